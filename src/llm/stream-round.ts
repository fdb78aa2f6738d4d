import type OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { Clock } from '../util/clock.ts';
import { bodyActivityOption } from './body-activity.ts';
import { classifyError, errorFromBody, LlmError } from './errors.ts';
import type { OpenRouterExtras } from './to-openai-request.ts';
import { readReasoning } from './reasoning-chunks.ts';
import type { Citation, ToolCall } from './types.ts';

export type StreamingBody = ChatCompletionCreateParamsStreaming & OpenRouterExtras;

/** Usage as OpenRouter reported it for one completion call. */
export interface RawUsage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens?: number;
  /** `prompt_tokens_details.cached_tokens`, when present. */
  cachedTokens?: number;
  /** OpenRouter's `usage.cost` in USD, when present. */
  cost?: number;
  /** `usage.server_tool_use_details.web_search_requests`, when present. */
  webSearchRequests?: number;
}

export interface RoundOutcome {
  text: string;
  /** OpenRouter's `reasoning_details` of the round, fragments merged (sent back unchanged in tool loops). */
  reasoningDetails?: unknown[];
  toolCalls: ToolCall[];
  finishReason: string | null;
  model?: string;
  generationId?: string;
  usage?: RawUsage;
  /** url_citation annotations of the round, in arrival order (repeats included). */
  citations: Citation[];
  /** Image URLs of the round (`delta.images`), in arrival order, each once. */
  images?: string[];
  /** `file` annotations of the round (a PDF OpenRouter parsed), as they came. */
  fileAnnotations?: unknown[];
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

/** What a round streams as it goes: answer text, a sign (with any text) of the model thinking, or citations that just arrived. */
export type RoundDelta =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string; encrypted: boolean }
  | { type: 'citations'; citations: Citation[] };

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * One streaming completion call. Yields text and reasoning deltas and returns what the
 * round produced; it never throws: failures come back as `error`, with the
 * text that arrived before them.
 */
export async function* streamRound(args: StreamRoundArgs): AsyncGenerator<RoundDelta, RoundOutcome, undefined> {
  const out: RoundOutcome = { text: '', toolCalls: [], finishReason: null, citations: [] };
  const calls = new Map<number, PartialCall>();
  const details: Record<string, unknown>[] = [];
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
      // Every chunk counts as activity, reasoning chunks with no text included.
      watchdog.refresh();
      const seen = out.citations.length;
      for (const delta of readChunk(chunk, out, calls, details)) {
        if (delta.type === 'text') out.text += delta.text;
        yield delta;
      }
      if (out.citations.length > seen) yield { type: 'citations', citations: out.citations.slice(seen) };
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

  if (details.length > 0) out.reasoningDetails = details;
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

/** Folds one chunk into the round; returns its reasoning and text deltas. Tolerates `choices: []` and missing fields. */
function readChunk(chunk: ChatCompletionChunk, out: RoundOutcome, calls: Map<number, PartialCall>, details: Record<string, unknown>[]): RoundDelta[] {
  if (chunk.id) out.generationId = chunk.id;
  if (chunk.model) out.model = chunk.model;
  if (chunk.usage) out.usage = readUsage(chunk.usage);
  const deltas: RoundDelta[] = [];
  let text = '';
  for (const choice of chunk.choices ?? []) {
    if ((choice.index ?? 0) !== 0) continue;
    const choiceError = (choice as { error?: unknown }).error;
    if (choiceError) out.error ??= errorFromBody(choiceError, 'mid_stream');
    if (choice.finish_reason) out.finishReason = choice.finish_reason;
    const delta = choice.delta;
    if (!delta) continue;
    const reasoning = readReasoning(delta, details);
    if (reasoning) deltas.push({ type: 'reasoning', ...reasoning });
    if (typeof delta.content === 'string') text += delta.content;
    const annotations = (delta as { annotations?: unknown }).annotations;
    out.citations.push(...readCitations(annotations));
    const files = readFileAnnotations(annotations);
    if (files.length > 0) out.fileAnnotations = [...(out.fileAnnotations ?? []), ...files];
    const images = readImageUrls((delta as { images?: unknown }).images);
    if (images.length > 0) out.images = [...new Set([...(out.images ?? []), ...images])];
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
  if (text !== '') deltas.push({ type: 'text', text });
  return deltas;
}

/** OpenRouter's `file` annotations (a parsed PDF's content), kept whole to be sent back. */
export function readFileAnnotations(annotations: unknown): unknown[] {
  if (!Array.isArray(annotations)) return [];
  return (annotations as unknown[]).filter((a) => typeof a === 'object' && a !== null && (a as { type?: unknown }).type === 'file');
}

/** `url_citation` annotations as citations; anything else (or malformed) is skipped. */
export function readCitations(annotations: unknown): Citation[] {
  if (!Array.isArray(annotations)) return [];
  const out: Citation[] = [];
  for (const annotation of annotations as unknown[]) {
    const a = annotation as { type?: unknown; url_citation?: { url?: unknown; title?: unknown; start_index?: unknown; end_index?: unknown } } | null;
    const c = a?.type === 'url_citation' ? a.url_citation : undefined;
    if (!c || typeof c.url !== 'string' || !/^https?:\/\//i.test(c.url)) continue;
    const citation: Citation = { url: c.url, title: typeof c.title === 'string' && c.title.trim() !== '' ? c.title.trim() : c.url };
    if (typeof c.start_index === 'number') citation.startIndex = c.start_index;
    if (typeof c.end_index === 'number') citation.endIndex = c.end_index;
    out.push(citation);
  }
  return out;
}

/**
 * `delta.images[]` / `message.images[]` entries (`{type: "image_url",
 * image_url: {url}}`) as their URLs; anything else is skipped. A URL can be a
 * data URL of several megabytes: it is passed on as it is, checked later.
 */
export function readImageUrls(images: unknown): string[] {
  if (!Array.isArray(images)) return [];
  const out: string[] = [];
  for (const image of images as unknown[]) {
    const url = (image as { image_url?: { url?: unknown } } | null)?.image_url?.url;
    if (typeof url === 'string' && url !== '') out.push(url);
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
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
    server_tool_use_details?: { web_search_requests?: unknown } | null;
  };
  const out: RawUsage = {
    promptTokens: typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0,
    completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0,
  };
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') out.reasoningTokens = reasoning;
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number' && cached > 0) out.cachedTokens = cached;
  if (typeof u.cost === 'number' && Number.isFinite(u.cost)) out.cost = u.cost;
  const searches = u.server_tool_use_details?.web_search_requests;
  if (typeof searches === 'number' && searches > 0) out.webSearchRequests = searches;
  return out;
}
