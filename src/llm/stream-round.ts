import type OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { Clock } from '../util/clock.ts';
import { bodyActivityOption } from './body-activity.ts';
import { classifyError, errorFromBody, LlmError } from './errors.ts';
import type { OpenRouterExtras } from './to-openai-request.ts';
import type { Citation, ToolCall } from './types.ts';

export type StreamingBody = ChatCompletionCreateParamsStreaming & OpenRouterExtras;

/** Usage as OpenRouter reported it for one completion call. */
export interface RawUsage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens?: number;
  /** OpenRouter's `usage.cost` in USD, when present. */
  cost?: number;
  /** `usage.server_tool_use_details.web_search_requests`, when present. */
  webSearchRequests?: number;
}

export interface RoundOutcome {
  text: string;
  toolCalls: ToolCall[];
  finishReason: string | null;
  model?: string;
  generationId?: string;
  usage?: RawUsage;
  /** url_citation annotations of the round, in arrival order (repeats included). */
  citations: Citation[];
  error?: LlmError;
}

export interface StreamRoundArgs {
  client: OpenAI;
  body: StreamingBody;
  /** Aborts the upstream request (the user's stop button, or the consumer going away). */
  signal: AbortSignal;
  /** Longest silence allowed once the stream has started; any bytes, keep-alive comments too, break a silence. */
  idleTimeoutMs: number;
  secrets: readonly string[];
  clock: Clock;
  /** Used to name tool calls that arrive without an id. */
  round: number;
}

/** What a round streams: a text delta, or citations that just arrived. */
export type RoundDelta = { text: string; citations?: undefined } | { text?: undefined; citations: Citation[] };

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * One streaming completion call. Yields text deltas and returns what the
 * round produced; it never throws: failures come back as `error`, with the
 * text that arrived before them.
 */
export async function* streamRound(args: StreamRoundArgs): AsyncGenerator<RoundDelta, RoundOutcome, undefined> {
  const out: RoundOutcome = { text: '', toolCalls: [], finishReason: null, citations: [] };
  const calls = new Map<number, PartialCall>();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  args.signal.addEventListener('abort', onAbort, { once: true });
  if (args.signal.aborted) controller.abort();
  let timedOut = false;
  let watchdog: NodeJS.Timeout | undefined;
  let finished = false;

  try {
    // The SDK's own timeout (and retries) cover the wait for the response headers.
    const stream = await args.client.chat.completions.create(args.body, {
      signal: controller.signal,
      fetchOptions: bodyActivityOption(() => watchdog?.refresh()),
    });
    watchdog = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, args.idleTimeoutMs);
    for await (const chunk of stream) {
      watchdog.refresh();
      const seen = out.citations.length;
      const text = readChunk(chunk, out, calls);
      if (text) {
        out.text += text;
        yield { text };
      }
      if (out.citations.length > seen) yield { citations: out.citations.slice(seen) };
    }
    finished = true;
  } catch (err) {
    finished = true;
    out.error = classifyError(err, { secrets: args.secrets });
  } finally {
    if (watchdog) clearTimeout(watchdog);
    args.signal.removeEventListener('abort', onAbort);
    // The consumer stopped iterating: stop generation (and billing) upstream.
    if (!finished) controller.abort();
  }

  // The SDK ends the iteration quietly when its signal aborts, so say why here.
  if (args.signal.aborted) out.error = new LlmError('aborted', 'request aborted');
  else if (timedOut) out.error = new LlmError('timeout', `no data from OpenRouter for ${args.idleTimeoutMs} ms`);

  out.toolCalls = onePerId(
    [...calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, c]) => ({
        id: c.id || `call_${args.round}_${index}`,
        name: c.name,
        arguments: c.arguments,
      })),
  );
  return out;
}

/**
 * A call id names one execution: a provider that repeats a call under another
 * index (as some repeat what they sent on the finishing chunk) must not run it
 * twice, nor send the model two results for one id. The first copy with
 * arguments wins.
 */
function onePerId(calls: readonly ToolCall[]): ToolCall[] {
  const byId = new Map<string, ToolCall>();
  for (const call of calls) {
    const seen = byId.get(call.id);
    if (!seen || (seen.arguments.trim() === '' && call.arguments.trim() !== '')) byId.set(call.id, call);
  }
  return [...byId.values()];
}

/** Folds one chunk into the round; returns its text delta. Tolerates `choices: []` and missing fields. */
function readChunk(chunk: ChatCompletionChunk, out: RoundOutcome, calls: Map<number, PartialCall>): string {
  if (chunk.id) out.generationId = chunk.id;
  if (chunk.model) out.model = chunk.model;
  if (chunk.usage) out.usage = readUsage(chunk.usage);
  let text = '';
  for (const choice of chunk.choices ?? []) {
    if ((choice.index ?? 0) !== 0) continue;
    const choiceError = (choice as { error?: unknown }).error;
    if (choiceError) out.error ??= errorFromBody(choiceError, 'mid_stream');
    if (choice.finish_reason) out.finishReason = choice.finish_reason;
    const delta = choice.delta;
    if (!delta) continue;
    if (typeof delta.content === 'string') text += delta.content;
    out.citations.push(...readCitations((delta as { annotations?: unknown }).annotations));
    for (const fragment of delta.tool_calls ?? []) {
      const index = fragment.index ?? calls.size;
      let call = calls.get(index);
      if (!call) {
        call = { id: '', name: '', arguments: '' };
        calls.set(index, call);
      }
      if (fragment.id) call.id = fragment.id;
      const name = fragment.function?.name;
      // OpenAI sends the name once; a provider repeating it must not double it.
      if (name && name !== call.name) call.name += name;
      if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
    }
  }
  return text;
}

/** `url_citation` annotations as citations; anything else (or malformed) is skipped. */
export function readCitations(annotations: unknown): Citation[] {
  if (!Array.isArray(annotations)) return [];
  const out: Citation[] = [];
  for (const annotation of annotations as unknown[]) {
    const a = annotation as { type?: unknown; url_citation?: { url?: unknown; title?: unknown; start_index?: unknown } } | null;
    const c = a?.type === 'url_citation' ? a.url_citation : undefined;
    if (!c || typeof c.url !== 'string' || !/^https?:\/\//i.test(c.url)) continue;
    const citation: Citation = { url: c.url, title: typeof c.title === 'string' && c.title.trim() !== '' ? c.title.trim() : c.url };
    if (typeof c.start_index === 'number') citation.startIndex = c.start_index;
    out.push(citation);
  }
  return out;
}

export function readUsage(usage: unknown): RawUsage | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    cost?: unknown;
    completion_tokens_details?: { reasoning_tokens?: unknown } | null;
    server_tool_use_details?: { web_search_requests?: unknown } | null;
  };
  const out: RawUsage = {
    promptTokens: typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0,
    completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0,
  };
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') out.reasoningTokens = reasoning;
  if (typeof u.cost === 'number' && Number.isFinite(u.cost)) out.cost = u.cost;
  const searches = u.server_tool_use_details?.web_search_requests;
  if (typeof searches === 'number' && searches > 0) out.webSearchRequests = searches;
  return out;
}
