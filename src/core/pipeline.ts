/**
 * One answer, end to end: gate -> settings -> history -> quota reserve ->
 * llm stream -> render -> settle. Platform-neutral.
 */
import { randomUUID } from 'node:crypto';
import { classifyError, type LlmError } from '../llm/errors.ts';
import { attachmentsWorstCaseUsd, webSearchWorstCaseUsd, worstCasePrice, type WorstCasePrice } from '../llm/pricing.ts';
import { promptTokensCeiling, toolTokensCeiling } from '../llm/token-bound.ts';
import { fallbacksToSend } from '../llm/to-openai-request.ts';
import type { ChatRequest, Citation, CompletionResult, MessagePart, ModelInfo, StreamEvent, Usage, WebSearchOptions } from '../llm/types.ts';
import { emptyUsage, partsText } from '../llm/types.ts';
import type { Logger } from '../log.ts';
import type { LedgerEntry, Outcome } from '../store/types.ts';
import type { AnswerFooter, EndLine } from './answer-view.ts';
import { AttachmentResolver, checkAttachments, type InboundAttachment } from './attachments.ts';
import type { CommandUser } from './commands.ts';
import { buildConversation, cleanPrompt, type BuiltConversation, type HistoryMessage } from './conversation.ts';
import { resetKeysOf, sessionIdOf, type ConversationRef } from './conversation-key.ts';
import type { Core } from './core.ts';
import { restartingError, UserFacingError } from './errors.ts';
import type { Reservation } from './quota.ts';
import { trackAnswer } from './recovery.ts';
import { createRenderer, type Renderer, type RenderResult } from './renderer.ts';
import { WEB_SEARCH_MAX_RESULTS, WEB_SEARCH_TOOL } from './server-tools.ts';
import { plainSettings, type ChannelSettings, type Place } from './settings.ts';
import { progressLine, type AnswerProgress } from './progress.ts';
import { ThinkingStatus } from './thinking-status.ts';
import { decodeAnswerImages } from './answer-images.ts';
import { hasImageOutput, imageSettings, NO_PICTURE_NOTE, requireImageOutput, withImagePrice, withRoomForPictures } from './image-answers.ts';
import { numberSources } from './sources.ts';
import type { MessageSurface } from './types.ts';
import type { RoleRef, UserRoles } from './roles.ts';
import type { ApprovalTarget } from './approvals.ts';
import { isMemberOfAny, mayNotPickModel, notAllowedHere } from './role-rules.ts';
import { noVisionError, seesImages, visionFallbacks, withoutImages } from './vision.ts';

/** Used when the catalog does not know a model. */
const UNKNOWN_CONTEXT_LENGTH = 32_768;

export interface AskRequest {
  requestId?: string;
  place: Place;
  user: CommandUser;
  /** The question as text (command options); `parts` wins when given. */
  prompt: string;
  /** The question as parts, when it came as a message. */
  parts?: MessagePart[];
  /** Files attached to the question: checked, downloaded and added to its parts by the gate. */
  attachments?: readonly InboundAttachment[];
  /** The attachments came with a command (an /ask option), not on a message the history can read again. */
  attachmentsOutsideMessages?: boolean;
  /** A per-request model, honoured where the channel allows user choice (admins always may). */
  model?: string;
  /** Where the conversation lives; its resets (and its channel's) apply. */
  conversation?: ConversationRef;
  conversationKey: string;
  /** Read after the cheap checks (empty prompt, model, settings) passed. */
  history: () => Promise<readonly HistoryMessage[]>;
  surface: MessageSurface;
  /** Asked only when the answer depends on it (a per-request model), so a lookup can be skipped. */
  isAdmin: boolean | (() => Promise<boolean>);
  /** The asker's roles (user groups) from the platform; read once per answer through the core's cache. */
  rolesOf?: (userId: string) => Promise<RoleRef[]>;
  signal?: AbortSignal;
  /**
   * `image`: draw a picture (`/image`) with the channel's image model, or
   * `model`, which must have image output (see image-answers.ts).
   */
  purpose?: 'image';
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
  userName: string;
  /** Where the answer is shown: tools that ask first post their question here. */
  surface: MessageSurface;
  isAdmin: () => Promise<boolean>;
  controller: AbortController;
  stoppedBy?: string;
  /** Ended by interrupt() (shutdown): settles as 'interrupted'. */
  interrupted?: boolean;
}

export { SEARCHING_STATUS } from './progress.ts';

/** The last line of an answer cut short by a shutdown. */
export const INTERRUPTED_LINE = '(interrupted: the bot is restarting)';

/** Model ids OpenRouter routes itself; they are not in the catalog as plain models. */
const ROUTER_MODEL = /^openrouter\//;
const VARIANT_SUFFIX = /:(nitro|floor|online|thinking|extended|beta)$/;
const PRESET_PREFIX = '@preset/';

/**
 * An OpenRouter preset (`@preset/<slug>`), set up on openrouter.ai: checked by
 * its syntax only (OpenRouter has no endpoint listing a key's presets), its
 * price unknown, so the quota's rule for unknown prices applies.
 */
export function isPresetId(model: string): boolean {
  return /^@preset\/[a-z0-9-]+$/.test(model);
}
/** The deprecated web search suffix (still accepted; OpenRouter searches for it). */
const ONLINE_SUFFIX = /:online$/;

/** Files of earlier messages sent again at most (the newest ones); older ones become a note. */
export const HISTORY_ATTACHMENTS_MAX = 16;

export class AnswerPipeline {
  readonly #running = new Map<string, Running>();
  /** Downloads attachments, with a bounded cache for history. */
  readonly attachments = new AttachmentResolver();
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
  /** An answer running here whose asker a tool may ask first (approvals.ts). */
  approvalTarget(requestId: string): ApprovalTarget | undefined {
    const run = this.#running.get(requestId);
    return run ? { place: run.place, userId: run.userId, userName: run.userName, surface: run.surface, signal: run.controller.signal, isAdmin: run.isAdmin } : undefined;
  }

  ownerOf(requestId: string): string | undefined {
    return this.#running.get(requestId)?.userId;
  }

  /** Resolves a model id against the catalog; throws a UserFacingError with suggestions when unknown. */
  async checkModel(model: string): Promise<ModelInfo | undefined> {
    const { catalog } = this.core;
    if (/\s/.test(model) || model.length > 200 || model === '') {
      throw new UserFacingError('unknown-model', `\`${model.slice(0, 80)}\` is not a model id (ids look like \`openai/gpt-4o-mini\`).`);
    }
    if (model.startsWith(PRESET_PREFIX)) {
      if (isPresetId(model)) return undefined;
      throw new UserFacingError('unknown-model', `\`${model.slice(0, 80)}\` is not a preset id: presets look like \`@preset/my-preset\` (lowercase letters, digits and dashes).`);
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
    const requestId = request.requestId ?? randomUUID();
    const { place, user } = request;
    const logger = this.core.logger.child({ requestId, platform: place.platform, channel: place.channelId, user: user.id });
    const plan = await this.#gate(request);
    const ledgerBase: LedgerBase = {
      requestId,
      platform: place.platform,
      workspaceId: place.workspaceId,
      channelId: place.channelId,
      userId: user.id,
      modelRequested: plan.model,
    };
    const reservation = await this.#reserve(request, plan, ledgerBase, logger);
    await this.#converse(request, plan, logger);
    const answer = await this.#open(request, plan, requestId, logger);
    const streamed = await this.#stream(request, plan, answer, logger, reservation);
    await this.#finish(request, plan, answer, streamed, logger);
    await this.#settle(plan, answer, streamed, ledgerBase, logger);
    if (streamed.unshown) throw streamed.unshown;
    return { requestId, outcome: streamed.outcome, text: streamed.text, result: streamed.result, error: streamed.failure?.error };
  }

  /** The asker's roles, through the core's cache (a failed lookup counts as none and is logged there). */
  rolesOf(request: Pick<AskRequest, 'place' | 'user' | 'rolesOf'>): Promise<UserRoles> {
    const { place, user } = request;
    if (place.isDm) return Promise.resolve({ roles: [] });
    return this.core.membership.rolesOf({ platform: place.platform, workspaceId: place.workspaceId, userId: user.id }, request.rolesOf);
  }

  /** Everything that can refuse runs before any message is posted or anything is charged. */
  async #gate(request: AskRequest): Promise<Plan> {
    const { core } = this;
    let parts = cleanParts(request.parts ?? [{ type: 'text', text: request.prompt }]);
    const prompt = partsText(parts);
    const attached = request.attachments ?? [];
    if (prompt === '' && attached.length === 0) throw new UserFacingError('bad-input', 'Your message is empty: write something to ask.');
    if (prompt.length > core.config.maxPromptChars) {
      throw new UserFacingError(
        'bad-input',
        `Your message is ${prompt.length.toLocaleString('en-US')} characters; the limit is ${core.config.maxPromptChars.toLocaleString('en-US')}. Shorten it or attach less text.`,
      );
    }
    // Cheap file checks (how many, which types, announced sizes) before anything is read or downloaded.
    const kinds = checkAttachments(attached);
    const resolved = plainSettings(await core.settings.resolve(request.place));
    const settings = request.purpose === 'image' ? imageSettings(resolved) : resolved;
    const isAdmin = async () => (typeof request.isAdmin === 'function' ? await request.isAdmin() : request.isAdmin);
    if (settings.allowedRoles.length > 0) {
      const roles = await this.rolesOf(request);
      if (!isMemberOfAny(roles, settings.allowedRoles) && !(await isAdmin())) throw notAllowedHere(settings.allowedRoles, roles);
    }
    let model = settings.model;
    if (request.model !== undefined && request.model !== model) {
      if (!settings.allowUserModel && !(await isAdmin())) {
        throw new UserFacingError('not-allowed', 'This channel does not let users pick their own model; ask an admin, or leave `model` out.');
      }
      if (settings.userChoiceRoles.length > 0) {
        const roles = await this.rolesOf(request);
        if (!isMemberOfAny(roles, settings.userChoiceRoles) && !(await isAdmin())) throw mayNotPickModel(settings.userChoiceRoles, roles);
      }
      model = request.model.trim();
    }
    let modelInfo = await this.checkModel(model);
    if (request.purpose === 'image') requireImageOutput(model, modelInfo);
    let visionFor: string | undefined;
    if (kinds.includes('image') && !seesImages(modelInfo)) {
      if (settings.visionModel === null || settings.visionModel === model) throw await noVisionError(core.catalog, model);
      visionFor = model;
      model = settings.visionModel;
      modelInfo = await this.checkModel(model);
    }
    if (kinds.includes('image')) settings.fallbackModels = await visionFallbacks(core.catalog, settings.fallbackModels);
    if (attached.length > 0) parts = [...parts, ...(await this.attachments.resolve(attached))];
    const imageOutput = hasImageOutput(modelInfo);
    const maxTokens = Math.min(imageOutput ? withRoomForPictures(settings.maxTokens) : settings.maxTokens, modelInfo?.maxCompletionTokens ?? Number.POSITIVE_INFINITY);
    // The question alone for now: it must fit, and it is what the reservation is checked against
    // before anything reads the conversation's history (#converse).
    const conversation = buildConversation({ ...this.#conversationInput(request, settings, modelInfo, maxTokens, parts), history: [] });
    const webSearch = webSearchOf(settings);
    return {
      prompt,
      parts,
      settings,
      model,
      modelInfo,
      maxTokens,
      conversation,
      webSearch,
      imageOutput,
      purpose: request.purpose,
      visionFor,
      attachments: attached.length,
      started: core.clock.now(),
    };
  }

  #conversationInput(request: AskRequest, settings: ChannelSettings, modelInfo: ModelInfo | undefined, maxTokens: number, parts: MessagePart[]) {
    return {
      systemPrompt: settings.systemPrompt,
      parts,
      asker: request.user,
      contextLength: modelInfo?.contextLength ?? UNKNOWN_CONTEXT_LENGTH,
      maxTokens,
    };
  }

  /**
   * The conversation so far, read only once the quota has a reservation (cheap
   * refusals first: a refused asker costs no history read). The first round's
   * top-up covers what the history adds to the prompt.
   */
  async #converse(request: AskRequest, plan: Plan, logger: Logger): Promise<void> {
    const { core } = this;
    const resetKeys = request.conversation ? resetKeysOf(request.conversation) : [request.conversationKey];
    const history = await request.history().catch((error: unknown) => {
      logger.warn({ err: error }, 'could not read the conversation; answering without history');
      return [];
    });
    if (history.length === 0) return;
    await this.#historyFiles(history, plan, logger);
    let resetAt: Date | undefined;
    try {
      resetAt = await core.store.getConversationResets(resetKeys);
    } catch (error) {
      // The reservation is held: never leave it behind. Without knowing of a /new, the history is left out.
      logger.warn({ err: error }, 'could not read conversation resets; answering without history');
      return;
    }
    plan.conversation = buildConversation({
      ...this.#conversationInput(request, plan.settings, plan.modelInfo, plan.maxTokens, plan.parts),
      history,
      resetAt,
    });
  }

  /**
   * Files of earlier messages, newest first up to HISTORY_ATTACHMENTS_MAX
   * (downloaded again or read from the cache; a file gone since becomes a
   * note), images as notes for a model that cannot see them.
   */
  async #historyFiles(history: readonly HistoryMessage[], plan: Plan, logger: Logger): Promise<void> {
    let left = HISTORY_ATTACHMENTS_MAX;
    const sees = seesImages(plan.modelInfo);
    for (let i = history.length - 1; i >= 0; i--) {
      const message = history[i]!;
      const files = message.attachments ?? [];
      if (files.length === 0) continue;
      const kept = files.slice(0, Math.max(0, left));
      left -= kept.length;
      const notes: MessagePart[] = files.slice(kept.length).map((f) => ({ type: 'text', text: `[attachment ${f.name}: left out, more than ${HISTORY_ATTACHMENTS_MAX} files earlier in the conversation]` }));
      const parts = [...(await this.attachments.resolveEarlier(kept)), ...notes];
      message.parts = sees ? parts : withoutImages(parts);
    }
    if (left < HISTORY_ATTACHMENTS_MAX) logger.debug({ files: HISTORY_ATTACHMENTS_MAX - Math.max(0, left) }, 'earlier attachments sent again');
  }

  /**
   * The quota reservation: the first round's worst case over every model that
   * may answer (its top-ups come before further rounds, in #stream). A refusal
   * is written to the ledger (as refused, costing nothing) and told to the asker.
   */
  async #reserve(request: AskRequest, plan: Plan, ledgerBase: LedgerBase, logger: Logger): Promise<Reservation> {
    const { core } = this;
    const { place, user } = request;
    const fallbacks = fallbacksToSend({ model: plan.model, fallbackModels: plan.settings.fallbackModels });
    try {
      return await core.quota.reserve({
        requestId: ledgerBase.requestId,
        user: { platform: place.platform, workspaceId: place.workspaceId, userId: user.id },
        channelId: place.channelId,
        model: plan.model,
        fallbacks,
        modelInfo: plan.modelInfo,
        priceOf: async (models) =>
          withAttachmentsPrice(
            withImagePrice(withSearchPrice(await worstCasePrice(core.catalog, models, core.config.openrouter.autoRouterModels), plan), plan.imageOutput ? plan.modelInfo : undefined),
            plan,
            await imagePriceOf(core, models),
          ),
        // Bounds, not estimates: the tool definitions count whether or not the model ends up offered them.
        promptTokens: promptTokensCeiling(plan.conversation.messages) + toolTokensCeiling(core.registry.specs(plan.settings.tools)),
        maxTokens: plan.maxTokens,
        roleIds: (await this.rolesOf(request)).roles.map((role) => role.id),
      });
    } catch (error) {
      if (error instanceof UserFacingError) {
        await core.quota.settle(null, { ...ledgerBase, ...emptyLedger(core.clock.now()), outcome: 'refused', errorKind: 'quota' });
        logger.info({ reason: error.message }, 'request refused by quota');
        core.events.emit('quota-refused', { platform: place.platform, workspaceId: place.workspaceId, userId: user.id, reason: error.message });
      }
      throw error;
    }
  }

  /** Registers the running answer (Stop, shutdown, crash recovery) and prepares its renderer. */
  async #open(request: AskRequest, plan: Plan, requestId: string, logger: Logger): Promise<OpenAnswer> {
    const { core } = this;
    const { place, user } = request;
    // Crash safety: another process marks this answer interrupted if this one dies before settling.
    const tracker = await trackAnswer(core, { platform: place.platform, workspaceId: place.workspaceId, userId: user.id, requestId, channelId: place.channelId, model: plan.model }, logger);
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const isAdmin = request.isAdmin;
    const run: Running = { requestId, place, userId: user.id, userName: user.name, surface: request.surface, isAdmin: async () => (typeof isAdmin === 'function' ? isAdmin() : isAdmin), controller };
    this.#running.set(requestId, run);
    if (this.#interrupting) {
      run.interrupted = true;
      controller.abort(new Error('interrupted'));
    }
    core.events.emit('answer-started', { requestId, platform: place.platform, workspaceId: place.workspaceId, channelId: place.channelId, userId: user.id, model: plan.model });
    const renderer = createRenderer({
      surface: tracker.surface(request.surface),
      budget: core.budget,
      clock: core.clock,
      actions: [{ id: 'stop', label: 'Stop' }],
      onGone: () => controller.abort(new Error('message gone')),
      onRateLimited: (retryAfterMs) => core.events.emit('platform-rate-limited', { platform: place.platform, retryAfterMs }),
      logger,
    });
    return { requestId, run, controller, renderer, detach: () => request.signal?.removeEventListener('abort', onOuterAbort) };
  }

  /** Streams the upstream answer into the renderer; never throws. */
  async #stream(request: AskRequest, plan: Plan, answer: OpenAnswer, logger: Logger, reservation: Reservation): Promise<Streamed> {
    const { core } = this;
    const { place, user } = request;
    const { settings, model } = plan;
    const { controller, renderer } = answer;
    const chatRequest: ChatRequest = {
      model,
      fallbackModels: settings.fallbackModels.filter((m) => m !== model),
      messages: plan.conversation.messages,
      maxTokens: plan.maxTokens,
      temperature: settings.temperature ?? undefined,
      provider:
        settings.providerSort || settings.providerOrder.length > 0
          ? { sort: settings.providerSort ?? undefined, order: settings.providerOrder.length > 0 ? settings.providerOrder : undefined }
          : undefined,
      privacy: settings.privacy,
      ...(plan.webSearch ? { webSearch: plan.webSearch } : {}),
      ...(plan.imageOutput ? { imageOutput: true } : {}),
      pdfEngine: settings.pdfEngine,
      user: { platform: place.platform, id: user.id },
      sessionId: sessionIdOf(request.conversationKey),
      signal: controller.signal,
      ...reasoningOf(plan),
    };
    const streamed: Streamed = { text: '', reasoning: '', usage: emptyUsage(), outcome: 'error', citations: [], images: [], searching: false };
    const thinking = new ThinkingStatus(settings.reasoningDisplay, core.clock, (line) => renderer.status(line));
    // The status line and, for surfaces that show progress their own way, the same step as data.
    const progress = (step: AnswerProgress | null) => {
      renderer.status(step ? progressLine(step) : null);
      request.surface.progress?.(step);
    };
    if (plan.webSearch || ONLINE_SUFFIX.test(model)) {
      streamed.searching = true;
      progress({ kind: 'searching' });
    }
    try {
      const stream = core.llm.chat(chatRequest, {
        tools: settings.tools,
        maxRounds: core.config.tools.maxRounds,
        autoRouterModels: core.config.openrouter.autoRouterModels,
        beforeRound: async (round) => {
          const decision = await reservation.beforeRound(round);
          if (!decision.send || !decision.tools) {
            const refusal = reservation.refusal?.limit;
            const message = decision.send ? 'quota top-up refused: the round goes without tools' : 'quota top-up refused: no further round';
            logger.info({ round: round.round, refusal, maxTokens: decision.send ? decision.maxTokens : undefined }, message);
            renderer.status(decision.send ? '💸 Spending limit reached: answering without further tools.' : '💸 Spending limit reached: no room for another round.');
          }
          return decision;
        },
        context: {
          requestId: answer.requestId,
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
        if (startError === undefined) applyEvent(streamed, step.value, renderer, thinking, progress, (name) => core.registry.get(name)?.name ?? name);
        else if (step.value.type === 'error' || step.value.type === 'done') {
          // Nothing can be shown: only collect what the aborted request used.
          streamed.usage = step.value.type === 'done' ? step.value.result.usage : step.value.usage;
        }
      }
      if (startError !== undefined) {
        streamed.unshown = startError;
        throw startError;
      }
    } catch (error) {
      // The stream never throws; the renderer's start can (platform down).
      logger.error({ err: error }, 'answer could not be rendered');
      streamed.failure ??= { error: classifyError(error) };
    } finally {
      thinking.stop();
      answer.detach();
    }
    const aborted = streamed.failure?.error.kind === 'aborted';
    streamed.outcome = streamed.result ? 'ok' : aborted ? (answer.run.interrupted ? 'interrupted' : 'cancelled') : 'error';
    return streamed;
  }

  /** The last render (footer, end line), and the answer's clean text recorded under its messages. */
  async #finish(request: AskRequest, plan: Plan, answer: OpenAnswer, streamed: Streamed, logger: Logger): Promise<void> {
    const { core } = this;
    const { renderer, run } = answer;
    const { result, failure, usage } = streamed;
    const footer: AnswerFooter = {
      model: result?.modelAnswered ?? failure?.modelAnswered ?? plan.model,
      modelRequested: plan.model,
      isFallback: result?.isFallback ?? false,
      tokensIn: usage.promptTokens,
      tokensOut: usage.completionTokens,
      reasoningTokens: usage.reasoningTokens,
      cachedTokens: usage.cachedTokens,
      costUsd: usage.costSource === 'unknown' && usage.costUsd === 0 ? null : usage.costUsd,
      ms: core.clock.now() - plan.started,
      trimmed: plan.conversation.trimmed,
      ...(plan.visionFor ? { visionFor: plan.visionFor } : {}),
    };
    if (plan.settings.reasoningDisplay === 'spoiler' && streamed.reasoning.trim() !== '') footer.reasoning = streamed.reasoning.trim();
    let rendered: RenderResult | undefined;
    if (streamed.citations.length > 0) renderer.sources(numberSources(streamed.citations, streamed.text));
    const images = decodeAnswerImages(streamed.images);
    streamed.imagesOut = images.files.length;
    if (images.problems.length > 0) logger.warn({ problems: images.problems }, 'pictures from the model left out');
    renderer.images(images);
    try {
      if (result) {
        if (plan.purpose === 'image' && streamed.images.length === 0) renderer.append(`${streamed.text.trim() === '' ? '' : '\n\n'}${NO_PICTURE_NOTE}`);
        else if (streamed.text.trim() === '' && images.files.length === 0) renderer.append('_(the model returned an empty answer)_');
        rendered = await renderer.finish(footer);
      } else {
        rendered = await renderer.fail(this.#endLine(streamed, run, renderer.gone), footer);
      }
    } catch (error) {
      logger.warn({ err: error }, 'final render failed');
    }
    if (!rendered || rendered.pieces.length === 0 || streamed.unshown) return;
    const at = new Date(core.clock.now());
    const annotations = result?.fileAnnotations;
    // Files with a URL the platform keeps (Discord's CDN) that no message holds, like an /ask option: a reply to
    // the answer sends them again (the history of a mention reads its own message instead).
    const promptFiles = (request.attachments ?? []).flatMap((file) =>
      file.publicUrl && request.attachmentsOutsideMessages ? [{ id: file.id, name: file.name, ...(file.mime ? { mime: file.mime } : {}), size: file.size, url: file.publicUrl }] : [],
    );
    try {
      await core.store.recordAnswerMessages(
        rendered.pieces.map((piece, index) => ({
          platform: request.place.platform,
          channelId: request.place.channelId,
          messageId: piece.id,
          requestId: answer.requestId,
          kind: 'answer' as const,
          text: piece.text,
          askerId: request.user.id,
          askerName: request.user.name,
          prompt: plan.prompt,
          at,
          // A parsed PDF's annotations ride on the answer's first message (history joins the pieces).
          ...(index === 0 && annotations ? { annotations } : {}),
          ...(index === 0 && promptFiles.length > 0 ? { promptFiles } : {}),
        })),
      );
    } catch (error) {
      // History then skips this answer; the answer itself is delivered.
      logger.warn({ err: error }, 'could not record the answer messages');
    }
  }

  #endLine(streamed: Streamed, run: Running, gone: boolean): EndLine {
    if (streamed.outcome === 'interrupted') return { kind: 'interrupted', text: INTERRUPTED_LINE };
    if (streamed.failure?.error.kind === 'aborted') {
      const text = run.stoppedBy ? `⏹️ Stopped by ${run.stoppedBy}.` : gone ? '⏹️ Stopped: the answer message was deleted.' : '⏹️ Stopped.';
      return { kind: 'stopped', text };
    }
    return { kind: 'error', text: `⚠️ ${streamed.failure?.error.userMessage() ?? 'The answer failed.'}` };
  }

  /** One ledger row, the finished event and one log line. */
  async #settle(plan: Plan, answer: OpenAnswer, streamed: Streamed, ledgerBase: LedgerBase, logger: Logger): Promise<void> {
    const { core } = this;
    const { result, failure, usage, outcome } = streamed;
    const entry: LedgerEntry = {
      ...ledgerBase,
      at: new Date(core.clock.now()),
      modelAnswered: result?.modelAnswered ?? failure?.modelAnswered ?? null,
      tokensIn: usage.promptTokens,
      tokensOut: usage.completionTokens,
      tokensReasoning: usage.reasoningTokens ?? 0,
      tokensCached: usage.cachedTokens ?? 0,
      costUsd: usage.costUsd,
      generationId: result?.generationId ?? failure?.generationId ?? null,
      outcome,
      errorKind: failure?.error.kind ?? null,
      webSearchRequests: usage.webSearchRequests ?? 0,
      imagesOut: streamed.imagesOut ?? 0,
      attachments: plan.attachments,
    };
    try {
      await core.quota.settle(answer.requestId, entry);
    } finally {
      this.#running.delete(answer.requestId);
    }
    const totalMs = core.clock.now() - plan.started;
    core.events.emit('answer-finished', {
      requestId: answer.requestId,
      platform: ledgerBase.platform,
      workspaceId: ledgerBase.workspaceId,
      userId: ledgerBase.userId,
      modelRequested: plan.model,
      modelAnswered: entry.modelAnswered,
      outcome,
      errorKind: entry.errorKind,
      tokensIn: entry.tokensIn,
      tokensOut: entry.tokensOut,
      tokensReasoning: entry.tokensReasoning ?? 0,
      costUsd: entry.costUsd,
      ttftMs: result?.timeToFirstTokenMs,
      totalMs,
    });
    logger.info(
      {
        modelRequested: plan.model,
        modelAnswered: entry.modelAnswered,
        fallback: result?.isFallback ?? false,
        tokensIn: entry.tokensIn,
        tokensOut: entry.tokensOut,
        costUsd: entry.costUsd,
        ttftMs: result?.timeToFirstTokenMs,
        totalMs,
        generationId: entry.generationId,
        outcome,
        errorKind: entry.errorKind,
      },
      'answer %s',
      outcome,
    );
  }
}

/** What the gate decided: the question, the settings and model in force, the conversation to send. */
interface Plan {
  prompt: string;
  parts: MessagePart[];
  settings: ChannelSettings;
  model: string;
  modelInfo: ModelInfo | undefined;
  maxTokens: number;
  conversation: BuiltConversation;
  /** OpenRouter's web search, when the channel enables the web_search tool. */
  webSearch: WebSearchOptions | undefined;
  /** The model may answer with pictures (sent `modalities: ["image", "text"]`). */
  imageOutput: boolean;
  purpose: AskRequest['purpose'];
  /** The channel's model that cannot see images, when its `vision-model` answers instead. */
  visionFor: string | undefined;
  /** Files the question carried (the ledger's `attachments`). */
  attachments: number;
  started: number;
}

type LedgerBase = Pick<LedgerEntry, 'requestId' | 'platform' | 'workspaceId' | 'channelId' | 'userId' | 'modelRequested'>;

interface OpenAnswer {
  requestId: string;
  run: Running;
  controller: AbortController;
  renderer: Renderer;
  detach(): void;
}

interface Streamed {
  text: string;
  /** The model's reasoning text, as far as it showed any (encrypted reasoning shows none). */
  reasoning: string;
  usage: Usage;
  /** url_citation annotations as they arrived (numbered into sources at the end). */
  citations: Citation[];
  /** Picture URLs the model returned (checked and decoded at the end). */
  images: string[];
  /** Pictures the answer carried (for the ledger). */
  imagesOut?: number;
  /** The "searching" status is up (web search on, no text yet). */
  searching: boolean;
  result?: CompletionResult;
  failure?: { error: LlmError; modelAnswered?: string; generationId?: string };
  outcome: Outcome;
  /** Set when not even the placeholder could be posted: the caller hears of it once settled. */
  unshown?: Error;
}

/** The `reasoning` request field: only for a model the catalog says takes it, and only when set. */
function reasoningOf(plan: Plan): Pick<ChatRequest, 'reasoningEffort'> {
  const effort = plan.settings.reasoningEffort;
  if (effort === null || !plan.modelInfo?.supportedParameters.includes('reasoning')) return {};
  return { reasoningEffort: effort };
}

/** One stream event into the answer and its renderer. */
function applyEvent(
  streamed: Streamed,
  event: StreamEvent,
  renderer: Renderer,
  thinking: ThinkingStatus,
  progress: (step: AnswerProgress | null) => void,
  toolLabel: (wireName: string) => string,
): void {
  switch (event.type) {
    case 'reasoning':
      streamed.reasoning += event.text;
      thinking.onReasoning(event.text);
      break;
    case 'text':
      thinking.onText();
      streamed.text += event.text;
      if (streamed.searching) {
        streamed.searching = false;
        progress(null);
      }
      renderer.append(event.text);
      break;
    case 'citations':
      streamed.citations.push(...event.citations);
      break;
    case 'images':
      streamed.images.push(...event.urls);
      break;
    case 'tool-call':
      thinking.stop();
      progress({ kind: 'tool', tool: toolLabel(event.call.name) });
      break;
    case 'tool-result':
      progress(null);
      break;
    case 'usage':
      break;
    case 'done':
      streamed.result = event.result;
      streamed.usage = event.result.usage;
      break;
    case 'error':
      streamed.failure = { error: event.error, modelAnswered: event.modelAnswered, generationId: event.generationId };
      streamed.usage = event.usage;
      break;
  }
}

/** The web search a channel's settings ask for: the web_search tool enabled, with its allowed domains. */
function webSearchOf(settings: ChannelSettings): WebSearchOptions | undefined {
  if (!settings.tools.includes(WEB_SEARCH_TOOL)) return undefined;
  return {
    maxResults: WEB_SEARCH_MAX_RESULTS,
    ...(settings.webSearchDomains.length > 0 ? { allowedDomains: settings.webSearchDomains } : {}),
  };
}

/**
 * A round with web search (the server tool, or the deprecated `:online`
 * suffix) may run a search: its worst case is added to every round's
 * per-request price, so the reservation and each top-up hold it.
 */
function withSearchPrice(price: WorstCasePrice, plan: Plan): WorstCasePrice {
  const maxResults = plan.webSearch?.maxResults ?? (ONLINE_SUFFIX.test(plan.model) ? WEB_SEARCH_MAX_RESULTS : 0);
  if (!price.known || maxResults === 0) return price;
  return { known: true, pricing: { ...price.pricing, request: price.pricing.request + webSearchWorstCaseUsd(maxResults) } };
}

function cleanParts(parts: readonly MessagePart[]): MessagePart[] {
  return parts
    .map((part) => (part.type === 'text' ? { ...part, text: cleanPrompt(part.text) } : part))
    .filter((part) => part.type !== 'text' || part.text !== '');
}

/** The highest per-image price among the models that may answer (0 when none lists one). */
async function imagePriceOf(core: Core, models: readonly string[]): Promise<number> {
  let price = 0;
  for (const id of new Set(models)) price = Math.max(price, (await core.catalog.get(id))?.pricing.image ?? 0);
  return price;
}

/**
 * Images (the model's per-image price) and PDF pages (the engine's price) of
 * every message sent, earlier ones included, added to each round's
 * per-request price so the reservation and every top-up hold them.
 */
function withAttachmentsPrice(price: WorstCasePrice, plan: Plan, imageUsd: number): WorstCasePrice {
  if (!price.known) return price;
  const extra = attachmentsWorstCaseUsd(plan.conversation.messages, imageUsd, plan.settings.pdfEngine);
  if (extra === 0) return price;
  return { known: true, pricing: { ...price.pricing, request: price.pricing.request + extra } };
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

