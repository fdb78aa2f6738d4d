import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { Logger } from 'pino';
import { z } from 'zod';
import { systemClock, type Clock } from '../util/clock.ts';
import { createHttpFetch } from '../http-fetch.ts';
import type { ToolSource } from './tool-types.ts';
import type { RequestContext } from './tool-types.ts';
import { withBodyActivity } from './body-activity.ts';
import { classifyError, errorFromBody, LlmError, privacyRefusal, redactSecrets } from './errors.ts';
import { computeCostUsd } from './pricing.ts';
import { readUsage, streamRound, type RawUsage, type RoundDelta, type RoundOutcome, type StreamingBody } from './stream-round.ts';
import { cacheControl, commonBody, fallbacksToSend, toOpenAiMessages, toOpenAiTools, toWebSearchTool, outputModalities, type OpenRouterExtras } from './to-openai-request.ts';
import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import { promptTokensCeiling, toolTokensCeiling } from './token-bound.ts';
import { runToolCall } from './tool-runner.ts';
import {
  emptyUsage,
  type ChatMessage,
  type ChatOptions,
  type ChatRequest,
  type CompletionResult,
  type LlmService,
  type ModelCatalog,
  type StreamEvent,
  type ToolSpec,
  type Usage,
} from './types.ts';

export interface OpenRouterServiceOptions {
  apiKey: string;
  /** e.g. https://openrouter.ai/api/v1 */
  baseUrl: string;
  /** Sent as HTTP-Referer for OpenRouter's app attribution. */
  appUrl?: string;
  appTitle: string;
  /** Wait for response headers (SDK) and longest silence between streamed chunks. */
  timeoutMs: number;
  /** SDK retries for 408/429/5xx and connection errors before the stream starts (default 2). */
  maxRetries?: number;
  logger: Logger;
  catalog: ModelCatalog;
  registry: ToolSource;
  /** Tool rounds before the loop makes the model answer without tools (default 5). */
  maxToolRounds?: number;
  clock?: Clock;
}

type ErrorEvent = Extract<StreamEvent, { type: 'error' }>;
type DoneEvent = Extract<StreamEvent, { type: 'done' }>;

const ROUTER_PREFIX = 'openrouter/';
/** A preset names no model of its own: whatever answers is the preset's model, not a fallback. */
const PRESET_PREFIX = '@preset/';

/**
 * Strips variant suffixes (`:free`, `:nitro`) and dated versions so that
 * "openai/gpt-4o-mini" answering as "openai/gpt-4o-mini-2024-07-18" is not
 * taken for a fallback.
 */
function sameModel(requested: string, answered: string): boolean {
  const base = (id: string) => id.toLowerCase().replace(/:[a-z0-9-]+$/, '');
  const a = base(requested);
  const b = base(answered);
  return a === b || b.startsWith(`${a}-`);
}

/**
 * A fallback answered when the answering model is one of the fallbacks, or
 * differs from a concrete requested model. A router (openrouter/auto) always
 * answers as some concrete model; that is not a fallback.
 */
export function isFallbackAnswer(requested: string, answered: string | undefined, fallbacks: readonly string[] = []): boolean {
  if (!answered || sameModel(requested, answered)) return false;
  if (fallbacks.some((f) => sameModel(f, answered))) return true;
  return !requested.startsWith(ROUTER_PREFIX) && !requested.startsWith(PRESET_PREFIX);
}

const SOURCE_RANK: Record<Usage['costSource'], number> = { unknown: 0, catalog: 1, openrouter: 2 };

/** Sums usage over rounds; the cost source is the least certain one involved. */
function addUsage(total: Usage | undefined, next: Usage): Usage {
  if (!total) return { ...next };
  const sum: Usage = {
    promptTokens: total.promptTokens + next.promptTokens,
    completionTokens: total.completionTokens + next.completionTokens,
    costUsd: Math.round((total.costUsd + next.costUsd) * 1e12) / 1e12,
    costSource: SOURCE_RANK[next.costSource] < SOURCE_RANK[total.costSource] ? next.costSource : total.costSource,
  };
  if (total.reasoningTokens !== undefined || next.reasoningTokens !== undefined) {
    sum.reasoningTokens = (total.reasoningTokens ?? 0) + (next.reasoningTokens ?? 0);
  }
  if (total.cachedTokens !== undefined || next.cachedTokens !== undefined) {
    sum.cachedTokens = (total.cachedTokens ?? 0) + (next.cachedTokens ?? 0);
  }
  if (total.webSearchRequests !== undefined || next.webSearchRequests !== undefined) {
    sum.webSearchRequests = (total.webSearchRequests ?? 0) + (next.webSearchRequests ?? 0);
  }
  return sum;
}

function safeSchemaName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
  return cleaned || 'result';
}

/** Some models wrap JSON in a code fence even in JSON mode. */
function stripFence(text: string): string {
  const match = /^\s*```(?:json)?\s*\n?([\s\S]*?)\n?```\s*$/i.exec(text);
  return match?.[1] ?? text;
}

/**
 * The one way Switchboard talks to models: OpenRouter through the openai SDK,
 * with streaming, fallbacks, the tool loop, hooks, cost accounting and error
 * classification. Nothing outside src/llm sees the SDK.
 */
export function createOpenRouterService(opts: OpenRouterServiceOptions): LlmService {
  const clock = opts.clock ?? systemClock;
  const secrets = [opts.apiKey];
  const defaultMaxRounds = opts.maxToolRounds ?? 5;
  const sdkLog = opts.logger.child({ component: 'openai-sdk' });
  const scrubArgs = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? redactSecrets(a, secrets) : a));
  const client = new OpenAI({
    apiKey: opts.apiKey,
    baseURL: opts.baseUrl,
    timeout: opts.timeoutMs,
    maxRetries: opts.maxRetries ?? 2,
    // node:http instead of the global fetch: a fifth of the CPU of a busy bot went to fetch (see http-fetch.ts).
    // Body bytes (SSE keep-alive comments too) keep a round's idle watchdog quiet (see body-activity.ts).
    fetch: withBodyActivity(createHttpFetch()),
    organization: null,
    project: null,
    defaultHeaders: {
      ...(opts.appUrl ? { 'HTTP-Referer': opts.appUrl } : {}),
      'X-Title': opts.appTitle,
      'X-OpenRouter-Title': opts.appTitle,
    },
    // Route the SDK's own warnings into pino instead of the console.
    logLevel: 'warn',
    logger: {
      error: (message: string, ...rest: unknown[]) => sdkLog.error({ details: scrubArgs(rest) }, redactSecrets(message, secrets)),
      warn: (message: string, ...rest: unknown[]) => sdkLog.warn({ details: scrubArgs(rest) }, redactSecrets(message, secrets)),
      info: (message: string) => sdkLog.debug(redactSecrets(message, secrets)),
      debug: (message: string) => sdkLog.trace(redactSecrets(message, secrets)),
    },
  });

  /** `images`: pictures the round returned, priced at the catalog's `pricing.image` when OpenRouter gives no cost. */
  async function toUsage(raw: RawUsage, model: string | undefined, images = 0): Promise<Usage> {
    const usage: Usage = {
      promptTokens: raw.promptTokens,
      completionTokens: raw.completionTokens,
      costUsd: 0,
      costSource: 'unknown',
    };
    if (raw.reasoningTokens !== undefined) usage.reasoningTokens = raw.reasoningTokens;
    if (raw.cachedTokens !== undefined) usage.cachedTokens = raw.cachedTokens;
    if (raw.webSearchRequests !== undefined) usage.webSearchRequests = raw.webSearchRequests;
    if (raw.cost !== undefined) {
      usage.costUsd = raw.cost;
      usage.costSource = 'openrouter';
      return usage;
    }
    const info = model ? await opts.catalog.get(model) : undefined;
    const computed = computeCostUsd(info, raw.promptTokens, raw.completionTokens);
    if (computed !== undefined) {
      usage.costUsd = Math.round((computed + images * Math.max(0, info?.pricing.image ?? 0)) * 1e12) / 1e12;
      usage.costSource = 'catalog';
    }
    return usage;
  }

  async function applyBeforeRequest(request: ChatRequest, ctx: RequestContext, log: Logger): Promise<ChatRequest> {
    let current = request;
    for (const hooks of opts.registry.hooks()) {
      if (!hooks.beforeRequest) continue;
      try {
        const rewritten = await hooks.beforeRequest(current, ctx);
        if (rewritten) current = rewritten;
      } catch (err) {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'beforeRequest hook failed; ignored');
      }
    }
    return current;
  }

  async function applyAfterRequest(terminal: DoneEvent | ErrorEvent, ctx: RequestContext, log: Logger): Promise<void> {
    const outcome = terminal.type === 'done' ? { type: 'done' as const, result: terminal.result } : { type: 'error' as const, event: terminal };
    for (const hooks of opts.registry.hooks()) {
      if (!hooks.afterRequest) continue;
      try {
        await hooks.afterRequest(outcome, ctx);
      } catch (err) {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'afterRequest hook failed; ignored');
      }
    }
  }

  /** Tools are offered only to a model the catalog knows and that lists `tools`. */
  async function resolveTools(
    request: ChatRequest,
    options: ChatOptions,
    log: Logger,
  ): Promise<{ specs: ToolSpec[]; toolChoice: boolean }> {
    const none = { specs: [], toolChoice: false };
    if (!options.tools || options.tools.length === 0) return none;
    if (!options.context) {
      log.warn('tools were requested without a request context; sending none');
      return none;
    }
    const info = await opts.catalog.get(request.model);
    if (!info) {
      log.warn({ model: request.model }, 'model is not in the catalog; sending no tools');
      return none;
    }
    if (!info.supportedParameters.includes('tools')) {
      log.info({ model: request.model }, 'model does not support tools; sending none');
      return none;
    }
    return { specs: opts.registry.specs(options.tools), toolChoice: info.supportedParameters.includes('tool_choice') };
  }

  /** Says so when stored settings name more fallbacks than OpenRouter takes (the request builder drops them). */
  function warnDroppedFallbacks(request: ChatRequest, log: Logger): void {
    const sent = fallbacksToSend(request);
    const dropped = [...new Set(request.fallbackModels ?? [])].filter((m) => m !== request.model && !sent.includes(m));
    if (dropped.length > 0) log.warn({ modelRequested: request.model, sent, dropped }, 'too many fallback models for OpenRouter; extra ones dropped');
  }

  /**
   * The server tool rides in `tools` beside the function tools; the SDK's
   * types know only function tools, so it is cast (OpenRouter reads it as sent).
   */
  function webSearchTool(request: ChatRequest): ChatCompletionFunctionTool {
    return toWebSearchTool(request.webSearch!) as unknown as ChatCompletionFunctionTool;
  }

  async function* chat(original: ChatRequest, options: ChatOptions = {}): AsyncGenerator<StreamEvent, void, undefined> {
    const started = clock.now();
    const log = opts.logger;
    const ctx = options.context;
    const chatAbort = new AbortController();
    const onAbort = () => chatAbort.abort();
    original.signal?.addEventListener('abort', onAbort, { once: true });
    if (original.signal?.aborted) chatAbort.abort();

    let request = original;
    let text = '';
    let usage: Usage | undefined;
    let rounds = 0;
    let modelAnswered: string | undefined;
    const fileAnnotations: unknown[] = [];
    let generationId: string | undefined;
    let finishReason: string | null = null;
    let firstTextAt: number | undefined;
    let terminal: DoneEvent | ErrorEvent | undefined;
    let current: AsyncGenerator<RoundDelta, RoundOutcome, undefined> | undefined;

    const errorEvent = (error: LlmError): ErrorEvent => ({
      type: 'error',
      error,
      partialText: text,
      usage: usage ?? emptyUsage(),
      ...(modelAnswered ? { modelAnswered } : {}),
      ...(generationId ? { generationId } : {}),
    });

    try {
      if (ctx) request = await applyBeforeRequest(request, ctx, log);
      warnDroppedFallbacks(request, log);
      const tools = await resolveTools(request, options, log);
      const openAiTools = toOpenAiTools(tools.specs);
      const offeredNames: ReadonlySet<string> = new Set(tools.specs.map((s) => s.name));
      const maxRounds = options.maxRounds ?? defaultMaxRounds;
      const messages: ChatMessage[] = [...request.messages];
      let toolRounds = 0;

      while (!terminal) {
        let offerTools = openAiTools.length > 0 && toolRounds < maxRounds;
        const keepDefinitions = !offerTools && openAiTools.length > 0 && tools.toolChoice;
        let withoutTools = false;
        let maxTokens = request.maxTokens;
        if (options.beforeRound) {
          const decision = await options.beforeRound({
            round: rounds + 1,
            models: [request.model, ...fallbacksToSend(request)],
            promptTokens: promptTokensCeiling(messages),
            toolTokens: offerTools || keepDefinitions ? toolTokensCeiling(tools.specs) : 0,
            maxTokens,
            spent: usage ?? emptyUsage(),
          });
          if (!decision.send) {
            log.info({ modelRequested: request.model, round: rounds + 1 }, 'no further round: its cost was not allowed');
            finishReason = 'limit';
            terminal = { type: 'done', result: buildResult() };
            break;
          }
          if (!decision.tools && (offerTools || keepDefinitions)) {
            log.info({ modelRequested: request.model, round: rounds + 1 }, 'round sent without tools: its cost with them was not allowed');
            offerTools = false;
            withoutTools = true;
          }
          if (decision.maxTokens !== undefined && (maxTokens === undefined || decision.maxTokens < maxTokens)) maxTokens = decision.maxTokens;
        }
        const body: StreamingBody = {
          ...commonBody(request, options.autoRouterModels),
          ...cacheControl(request.model, promptTokensCeiling(messages)),
          ...outputModalities(request),
          messages: toOpenAiMessages(messages),
          stream: true,
          stream_options: { include_usage: true },
        };
        if (maxTokens !== undefined) body.max_tokens = maxTokens;
        if (offerTools) body.tools = openAiTools;
        else if (keepDefinitions && !withoutTools) {
          // Out of tool rounds: keep the definitions (the history holds tool calls) but forbid new calls.
          body.tools = openAiTools;
          body.tool_choice = 'none';
        }
        if (request.webSearch && !withoutTools) body.tools = [...(body.tools ?? []), webSearchTool(request)];
        rounds++;

        const round = streamRound({
          client,
          body,
          signal: chatAbort.signal,
          idleTimeoutMs: opts.timeoutMs,
          secrets,
          clock,
          round: rounds,
        });
        current = round;
        let roundHasText = false;
        let step = await round.next();
        while (!step.done) {
          if (step.value.type !== 'text') {
            yield step.value;
            step = await round.next();
            continue;
          }
          let delta = step.value.text;
          if (!roundHasText && text !== '' && !/\s$/.test(text)) delta = `\n\n${delta}`;
          roundHasText = true;
          firstTextAt ??= clock.now();
          text += delta;
          yield { type: 'text', text: delta };
          step = await round.next();
        }
        current = undefined;
        const outcome = step.value;

        if (outcome.model) modelAnswered = outcome.model;
        if (outcome.fileAnnotations) fileAnnotations.push(...outcome.fileAnnotations);
        if (outcome.generationId) generationId = outcome.generationId;
        finishReason = outcome.finishReason;
        if (outcome.images && outcome.images.length > 0) yield { type: 'images', urls: outcome.images };
        if (outcome.usage) {
          const roundUsage = await toUsage(outcome.usage, outcome.model ?? request.model, outcome.images?.length ?? 0);
          usage = addUsage(usage, roundUsage);
          yield { type: 'usage', usage: roundUsage };
        }
        if (outcome.error) {
          terminal = errorEvent(privacyRefusal(outcome.error, request));
          break;
        }

        if (!offerTools || outcome.toolCalls.length === 0 || !ctx) {
          terminal = { type: 'done', result: buildResult() };
          break;
        }

        // A tool round: run every call in parallel, send the results back, go again.
        messages.push({
          role: 'assistant',
          content: outcome.text,
          toolCalls: outcome.toolCalls,
          ...(outcome.reasoningDetails ? { reasoningDetails: outcome.reasoningDetails } : {}),
          // The PDF parsed in this round is not parsed (and paid for) again in the next.
          ...(outcome.fileAnnotations ? { annotations: outcome.fileAnnotations } : {}),
        });
        for (const call of outcome.toolCalls) yield { type: 'tool-call', call };
        const results = await Promise.all(
          outcome.toolCalls.map((call) =>
            runToolCall(call, { registry: opts.registry, context: ctx, signal: chatAbort.signal, clock, logger: log, offered: offeredNames }),
          ),
        );
        for (const r of results) {
          yield { type: 'tool-result', callId: r.call.id, name: r.call.name, content: r.content, isError: r.isError };
          messages.push({ role: 'tool', toolCallId: r.call.id, content: r.content });
        }
        toolRounds++;
        if (chatAbort.signal.aborted) terminal = errorEvent(new LlmError('aborted', 'request aborted'));
      }
    } catch (err) {
      // Only our own bugs land here; the stream itself reports failures as values.
      log.error({ err: err instanceof Error ? redactSecrets(err.message, secrets) : String(err) }, 'chat failed unexpectedly');
      terminal = errorEvent(classifyError(err, { secrets }));
    } finally {
      original.signal?.removeEventListener('abort', onAbort);
      if (!terminal) {
        // The consumer stopped iterating early: stop the upstream call.
        chatAbort.abort();
        await current?.return({ text: '', toolCalls: [], finishReason: null, citations: [] });
        log.debug({ modelRequested: request.model, rounds }, 'llm chat abandoned by its consumer');
      }
    }

    // Hooks and the log line run before the final event: a consumer may stop at it.
    if (ctx) await applyAfterRequest(terminal, ctx, log);
    logOutcome(terminal);
    yield terminal;

    function buildResult(): CompletionResult {
      const answered = modelAnswered ?? request.model;
      return {
        text,
        modelRequested: request.model,
        modelAnswered: answered,
        isFallback: isFallbackAnswer(request.model, modelAnswered, request.fallbackModels),
        finishReason,
        ...(generationId ? { generationId } : {}),
        usage: usage ?? emptyUsage(),
        rounds,
        ...(fileAnnotations.length > 0 ? { fileAnnotations } : {}),
        ...(firstTextAt !== undefined ? { timeToFirstTokenMs: firstTextAt - started } : {}),
        totalMs: clock.now() - started,
      };
    }

    function logOutcome(event: DoneEvent | ErrorEvent): void {
      const u = event.type === 'done' ? event.result.usage : event.usage;
      const line = {
        modelRequested: request.model,
        modelAnswered: event.type === 'done' ? event.result.modelAnswered : event.modelAnswered,
        isFallback: event.type === 'done' ? event.result.isFallback : undefined,
        promptTokens: u.promptTokens,
        completionTokens: u.completionTokens,
        costUsd: u.costUsd,
        costSource: u.costSource,
        ttftMs: firstTextAt === undefined ? undefined : firstTextAt - started,
        totalMs: clock.now() - started,
        generationId,
        rounds,
      };
      if (event.type === 'done') {
        log.info({ ...line, finishReason: event.result.finishReason }, 'llm chat done');
      } else {
        const e = event.error;
        const level = e.kind === 'aborted' ? 'info' : 'warn';
        log[level]({ ...line, errorKind: e.kind, status: e.status, error: e.message }, 'llm chat failed');
      }
    }
  }

  async function structured<T>(
    request: ChatRequest,
    schema: z.ZodType<T>,
    name = 'result',
  ): Promise<{ value: T; result: CompletionResult }> {
    const started = clock.now();
    const log = opts.logger;
    const jsonSchema = z.toJSONSchema(schema) as Record<string, unknown>;
    delete jsonSchema.$schema;
    const body: ChatCompletionCreateParamsNonStreaming & OpenRouterExtras = {
      ...commonBody(request),
      messages: toOpenAiMessages(request.messages),
      stream: false,
      response_format: { type: 'json_schema', json_schema: { name: safeSchemaName(name), strict: true, schema: jsonSchema } },
    };

    try {
      const completion = await client.chat.completions.create(body, request.signal ? { signal: request.signal } : {});
      const choice = completion.choices?.[0];
      const choiceError = (choice as { error?: unknown } | undefined)?.error;
      if (choiceError) throw errorFromBody(choiceError);
      if (!choice) throw new LlmError('invalid_output', 'the response had no choices');
      const content = choice.message?.content ?? '';

      let json: unknown;
      try {
        json = JSON.parse(stripFence(content));
      } catch {
        throw new LlmError('invalid_output', `the model's output is not JSON: ${content.slice(0, 200)}`);
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw new LlmError('invalid_output', `the model's output does not match the schema: ${z.prettifyError(parsed.error)}`);
      }

      const rawUsage = readUsage(completion.usage);
      const usage = rawUsage ? await toUsage(rawUsage, completion.model || request.model) : emptyUsage();
      const result: CompletionResult = {
        text: content,
        modelRequested: request.model,
        modelAnswered: completion.model || request.model,
        isFallback: isFallbackAnswer(request.model, completion.model, request.fallbackModels),
        finishReason: choice.finish_reason ?? null,
        ...(completion.id ? { generationId: completion.id } : {}),
        usage,
        rounds: 1,
        totalMs: clock.now() - started,
      };
      log.info(
        {
          modelRequested: result.modelRequested,
          modelAnswered: result.modelAnswered,
          isFallback: result.isFallback,
          promptTokens: usage.promptTokens,
          completionTokens: usage.completionTokens,
          costUsd: usage.costUsd,
          costSource: usage.costSource,
          totalMs: result.totalMs,
          generationId: result.generationId,
          rounds: 1,
        },
        'llm structured done',
      );
      return { value: parsed.data, result };
    } catch (err) {
      const error = classifyError(err, { secrets });
      log.warn(
        { modelRequested: request.model, errorKind: error.kind, status: error.status, error: error.message, totalMs: clock.now() - started },
        'llm structured failed',
      );
      throw error;
    }
  }

  return { catalog: opts.catalog, chat, structured };
}
