/**
 * One answer, end to end: gate -> settings -> history -> quota reserve ->
 * llm stream -> render -> settle. Platform-neutral.
 */
import { randomUUID } from 'node:crypto';
import { classifyError, type LlmError } from '../llm/errors.ts';
import type { ChatRequest, CompletionResult, ModelInfo, Usage } from '../llm/types.ts';
import { emptyUsage } from '../llm/types.ts';
import type { LedgerEntry, Outcome } from '../store/types.ts';
import type { CommandUser } from './commands.ts';
import { buildConversation, cleanPrompt, type HistoryMessage } from './conversation.ts';
import type { Core } from './core.ts';
import { restartingError, UserFacingError } from './errors.ts';
import { formatUsd } from './quota.ts';
import { trackAnswer } from './recovery.ts';
import { createRenderer } from './renderer.ts';
import { plainSettings, type Place } from './settings.ts';
import type { MessageSurface } from './types.ts';

/** Used when the catalog does not know a model. */
const UNKNOWN_CONTEXT_LENGTH = 32_768;

export interface AskRequest {
  requestId?: string;
  place: Place;
  user: CommandUser;
  prompt: string;
  /** A per-request model, honoured where the channel allows user choice (admins always may). */
  model?: string;
  conversationKey: string;
  history: readonly HistoryMessage[];
  surface: MessageSurface;
  /** Asked only when the answer depends on it (a per-request model), so a lookup can be skipped. */
  isAdmin: boolean | (() => Promise<boolean>);
  signal?: AbortSignal;
}

export interface AskResult {
  requestId: string;
  outcome: Outcome;
  /** The answer text (partial on errors). */
  text: string;
  result?: CompletionResult;
  error?: LlmError;
}

interface Running {
  requestId: string;
  place: Place;
  userId: string;
  controller: AbortController;
  stoppedBy?: string;
  /** Ended by interrupt() (shutdown): settles as 'interrupted'. */
  interrupted?: boolean;
}

/** The last line of an answer cut short by a shutdown. */
export const INTERRUPTED_LINE = '(interrupted: the bot is restarting)';

/** Model ids OpenRouter routes itself; they are not in the catalog as plain models. */
const ROUTER_MODEL = /^openrouter\//;
const VARIANT_SUFFIX = /:(nitro|floor|online|thinking|extended|beta)$/;

export class AnswerPipeline {
  readonly #running = new Map<string, Running>();
  /** Calls to ask() not yet returned, from the gate to the settled ledger row. */
  #active = 0;
  #interrupting = false;
  #idleWaiters: Array<() => void> = [];

  constructor(private readonly core: Core) {}

  running(): number {
    return this.#running.size;
  }

  /** Resolves when no ask() is in progress, its usage settled (after a stop, for shutdown). */
  async drain(): Promise<void> {
    while (this.#active > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
  }

  /** Stops running answers: one request, one user's, one workspace's, or (empty filter) all; returns how many. */
  stop(filter: { platform?: string; workspaceId?: string; userId?: string; requestId?: string }, stoppedBy: string): number {
    let count = 0;
    for (const run of this.#running.values()) {
      if (filter.platform !== undefined && run.place.platform !== filter.platform) continue;
      if (filter.workspaceId !== undefined && run.place.workspaceId !== filter.workspaceId) continue;
      if (filter.userId && run.userId !== filter.userId) continue;
      if (filter.requestId && run.requestId !== filter.requestId) continue;
      run.stoppedBy = stoppedBy;
      run.controller.abort(new Error('stopped'));
      count++;
    }
    return count;
  }

  /**
   * Shutdown: ends every running answer, and any that starts streaming from
   * now on, with INTERRUPTED_LINE; they settle as 'interrupted'. Returns how many
   * were running.
   */
  interrupt(): number {
    this.#interrupting = true;
    for (const run of this.#running.values()) {
      run.interrupted = true;
      run.controller.abort(new Error('interrupted'));
    }
    return this.#running.size;
  }

  /** The user who started a running request (for Stop-button checks). */
  ownerOf(requestId: string): string | undefined {
    return this.#running.get(requestId)?.userId;
  }

  /** Resolves a model id against the catalog; throws a UserFacingError with suggestions when unknown. */
  async checkModel(model: string): Promise<ModelInfo | undefined> {
    const { catalog } = this.core;
    if (/\s/.test(model) || model.length > 200 || model === '') {
      throw new UserFacingError('unknown-model', `\`${model.slice(0, 80)}\` is not a model id (ids look like \`openai/gpt-4o-mini\`).`);
    }
    const info = (await catalog.get(model)) ?? (VARIANT_SUFFIX.test(model) ? await catalog.get(model.replace(VARIANT_SUFFIX, '')) : undefined);
    if (info || ROUTER_MODEL.test(model)) return info;
    if (!(await catalog.available())) {
      this.core.logger.warn({ model }, 'model catalog unavailable; letting an unchecked model through');
      return undefined;
    }
    const suggestions = await catalog.suggest(model, 3);
    const hint = suggestions.length > 0 ? ` Did you mean ${suggestions.map((s) => `\`${s}\``).join(', ')}?` : ' Try `/models` to search.';
    throw new UserFacingError('unknown-model', `There is no model \`${model}\` on OpenRouter.${hint}`);
  }

  async ask(request: AskRequest): Promise<AskResult> {
    if (this.core.draining) throw restartingError();
    this.#active++;
    try {
      await this.core.turns.turn();
      // A shutdown that began while this waited its turn: nothing has started yet.
      if (this.core.draining) throw restartingError();
      return await this.#ask(request);
    } finally {
      this.#active--;
      if (this.#active === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  async #ask(request: AskRequest): Promise<AskResult> {
    const { core } = this;
    const requestId = request.requestId ?? randomUUID();
    const { place, user } = request;
    const logger = core.logger.child({ requestId, platform: place.platform, channel: place.channelId, user: user.id });

    // Gate: everything that can refuse runs before any message is posted.
    const prompt = cleanPrompt(request.prompt);
    if (prompt === '') throw new UserFacingError('bad-input', 'Your message is empty: write something to ask.');
    if (prompt.length > core.config.maxPromptChars) {
      throw new UserFacingError(
        'bad-input',
        `Your message is ${prompt.length.toLocaleString('en-US')} characters; the limit is ${core.config.maxPromptChars.toLocaleString('en-US')}. Shorten it or attach less text.`,
      );
    }
    const settings = plainSettings(await core.settings.resolve(place));
    let model = settings.model;
    if (request.model !== undefined && request.model !== model) {
      if (!settings.allowUserModel && !(typeof request.isAdmin === 'function' ? await request.isAdmin() : request.isAdmin)) {
        throw new UserFacingError('not-allowed', 'This channel does not let users pick their own model; ask an admin, or leave `model` out.');
      }
      model = request.model.trim();
    }
    const modelInfo = await this.checkModel(model);
    const maxTokens = Math.min(settings.maxTokens, modelInfo?.maxCompletionTokens ?? Number.POSITIVE_INFINITY);
    const resetAt = await core.store.getConversationReset(request.conversationKey);
    const conversation = buildConversation({
      systemPrompt: settings.systemPrompt,
      history: request.history,
      prompt,
      asker: user,
      contextLength: modelInfo?.contextLength ?? UNKNOWN_CONTEXT_LENGTH,
      maxTokens,
      resetAt,
    });

    const userKey = { platform: place.platform, workspaceId: place.workspaceId, userId: user.id };
    const ledgerBase = {
      requestId,
      platform: place.platform,
      workspaceId: place.workspaceId,
      channelId: place.channelId,
      userId: user.id,
      modelRequested: model,
    };
    try {
      await core.quota.reserve({
        requestId,
        user: userKey,
        channelId: place.channelId,
        model,
        modelInfo,
        promptTokens: conversation.promptTokens,
        maxTokens,
      });
    } catch (error) {
      if (error instanceof UserFacingError) {
        await core.quota.settle(null, { ...ledgerBase, ...emptyLedger(core.clock.now()), outcome: 'refused', errorKind: 'quota' });
        logger.info({ reason: error.message }, 'request refused by quota');
        core.events.emit('quota-refused', { platform: place.platform, workspaceId: place.workspaceId, userId: user.id, reason: error.message });
      }
      throw error;
    }
    // Crash safety: another process marks this answer interrupted if this one dies before settling.
    const tracker = await trackAnswer(core, { ...userKey, requestId, channelId: place.channelId, model }, logger);

    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const run: Running = { requestId, place, userId: user.id, controller };
    this.#running.set(requestId, run);
    if (this.#interrupting) {
      run.interrupted = true;
      controller.abort(new Error('interrupted'));
    }
    core.events.emit('answer-started', {
      requestId,
      platform: place.platform,
      workspaceId: place.workspaceId,
      channelId: place.channelId,
      userId: user.id,
      model,
    });

    const renderer = createRenderer({
      surface: tracker.surface(request.surface),
      budget: core.budget,
      clock: core.clock,
      actions: [{ id: 'stop', label: 'Stop' }],
      onGone: () => controller.abort(new Error('message gone')),
      onRateLimited: (retryAfterMs) => core.events.emit('platform-rate-limited', { platform: place.platform, retryAfterMs }),
      logger,
    });

    const chatRequest: ChatRequest = {
      model,
      fallbackModels: settings.fallbackModels.filter((m) => m !== model),
      messages: conversation.messages,
      maxTokens,
      temperature: settings.temperature ?? undefined,
      provider:
        settings.providerSort || settings.providerOrder.length > 0
          ? { sort: settings.providerSort ?? undefined, order: settings.providerOrder.length > 0 ? settings.providerOrder : undefined }
          : undefined,
      user: { platform: place.platform, id: user.id },
      signal: controller.signal,
    };

    let text = '';
    let usage: Usage = emptyUsage();
    let result: CompletionResult | undefined;
    let failure: { error: LlmError; modelAnswered?: string; generationId?: string } | undefined;
    const started = core.clock.now();
    /** Set when not even the placeholder could be posted: the caller hears of it once settled. */
    let unshown: Error | undefined;
    try {
      const stream = core.llm.chat(chatRequest, {
        tools: settings.tools,
        maxRounds: core.config.tools.maxRounds,
        context: {
          requestId,
          platform: place.platform,
          workspaceId: place.workspaceId,
          channelId: place.channelId,
          userId: user.id,
          catalog: core.catalog,
          now: () => new Date(core.clock.now()),
        },
      });
      // The upstream request starts while the placeholder is being posted: the first
      // token is not held back by the platform's round trip.
      const events = stream[Symbol.asyncIterator]();
      const first = events.next();
      let startError: Error | undefined;
      try {
        await renderer.start();
      } catch (error) {
        startError = error instanceof Error ? error : new Error(`the answer could not be shown: ${String(error)}`);
        controller.abort(startError);
      }
      for (let step = await first; step.done !== true; step = await events.next()) {
        const event = step.value;
        if (startError !== undefined) {
          // Nothing can be shown: only collect what the aborted request used.
          if (event.type === 'error') usage = event.usage;
          if (event.type === 'done') usage = event.result.usage;
          continue;
        }
        switch (event.type) {
          case 'text':
            text += event.text;
            renderer.append(event.text);
            break;
          case 'tool-call':
            renderer.status(`🔧 using ${event.call.name}…`);
            break;
          case 'tool-result':
            renderer.status(null);
            break;
          case 'usage':
            break;
          case 'done':
            result = event.result;
            usage = event.result.usage;
            break;
          case 'error':
            failure = { error: event.error, modelAnswered: event.modelAnswered, generationId: event.generationId };
            usage = event.usage;
            break;
        }
      }
      if (startError !== undefined) {
        unshown = startError;
        throw startError;
      }
    } catch (error) {
      // The stream never throws; the renderer's start can (platform down).
      logger.error({ err: error }, 'answer could not be rendered');
      failure ??= { error: classifyError(error) };
    } finally {
      request.signal?.removeEventListener('abort', onOuterAbort);
    }

    const aborted = failure?.error.kind === 'aborted';
    const outcome: Outcome = result ? 'ok' : aborted ? (run.interrupted ? 'interrupted' : 'cancelled') : 'error';
    const trimmedNote =
      conversation.trimmed > 0
        ? ` · dropped ${conversation.trimmed} earlier message${conversation.trimmed === 1 ? '' : 's'} to fit`
        : '';
    const footer = formatFooter({
      modelAnswered: result?.modelAnswered ?? failure?.modelAnswered ?? model,
      modelRequested: model,
      isFallback: result?.isFallback ?? false,
      usage,
      ms: core.clock.now() - started,
    }) + trimmedNote;
    try {
      if (result) {
        if (text.trim() === '') renderer.append('_(the model returned an empty answer)_');
        await renderer.finish(footer);
      } else if (outcome === 'interrupted') {
        // The footer first, so the interrupted line is the last thing people read.
        await renderer.fail(footer, INTERRUPTED_LINE);
      } else {
        const line =
          failure?.error.kind === 'aborted'
            ? run.stoppedBy
              ? `⏹️ Stopped by ${run.stoppedBy}.`
              : renderer.gone
                ? '⏹️ Stopped: the answer message was deleted.'
                : '⏹️ Stopped.'
            : `⚠️ ${failure?.error.userMessage() ?? 'The answer failed.'}`;
        await renderer.fail(line, footer);
      }
    } catch (error) {
      logger.warn({ err: error }, 'final render failed');
    }

    const entry: LedgerEntry = {
      ...ledgerBase,
      at: new Date(core.clock.now()),
      modelAnswered: result?.modelAnswered ?? failure?.modelAnswered ?? null,
      tokensIn: usage.promptTokens,
      tokensOut: usage.completionTokens,
      costUsd: usage.costUsd,
      generationId: result?.generationId ?? failure?.generationId ?? null,
      outcome,
      errorKind: failure?.error.kind ?? null,
    };
    try {
      await core.quota.settle(requestId, entry);
    } finally {
      this.#running.delete(requestId);
    }
    core.events.emit('answer-finished', {
      requestId,
      platform: place.platform,
      workspaceId: place.workspaceId,
      userId: user.id,
      modelRequested: model,
      modelAnswered: entry.modelAnswered,
      outcome,
      errorKind: entry.errorKind,
      tokensIn: entry.tokensIn,
      tokensOut: entry.tokensOut,
      costUsd: entry.costUsd,
      ttftMs: result?.timeToFirstTokenMs,
      totalMs: core.clock.now() - started,
    });
    logger.info(
      {
        modelRequested: model,
        modelAnswered: entry.modelAnswered,
        fallback: result?.isFallback ?? false,
        tokensIn: entry.tokensIn,
        tokensOut: entry.tokensOut,
        costUsd: entry.costUsd,
        ttftMs: result?.timeToFirstTokenMs,
        totalMs: core.clock.now() - started,
        generationId: entry.generationId,
        outcome,
        errorKind: entry.errorKind,
      },
      'answer %s',
      outcome,
    );
    if (unshown) throw unshown;
    return { requestId, outcome, text, result, error: failure?.error };
  }
}

function emptyLedger(now: number) {
  return {
    at: new Date(now),
    modelAnswered: null,
    tokensIn: 0,
    tokensOut: 0,
    costUsd: 0,
    generationId: null,
  };
}

export function formatTokens(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toLocaleString('en-US');
}

export function formatFooter(input: {
  modelAnswered: string;
  modelRequested: string;
  isFallback: boolean;
  usage: Usage;
  ms: number;
}): string {
  const model = input.isFallback ? `${input.modelAnswered} (fallback for ${input.modelRequested})` : input.modelAnswered;
  const cost = input.usage.costSource === 'unknown' && input.usage.costUsd === 0 ? 'cost unknown' : formatUsd(input.usage.costUsd);
  return `${model} · ${formatTokens(input.usage.promptTokens)} in / ${formatTokens(input.usage.completionTokens)} out · ${cost} · ${(input.ms / 1000).toFixed(1)} s`;
}
