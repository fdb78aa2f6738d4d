import { truncate } from '../util/text.ts';
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from 'openai';

export type LlmErrorKind =
  | 'rate_limited'
  | 'out_of_credits'
  | 'moderation'
  | 'policy'
  | 'context_length'
  | 'not_found'
  | 'no_private_endpoint'
  | 'upstream_down'
  | 'timeout'
  | 'bad_key'
  | 'bad_request'
  | 'mid_stream'
  | 'aborted'
  | 'network'
  | 'invalid_output'
  | 'unknown';

export interface LlmErrorDetails {
  status?: number;
  retryAfterMs?: number;
  reasons?: string[];
  providerMessage?: string;
  /** OpenRouter's `error.code` or `metadata.error_type`, when given. */
  code?: string;
  /** The model and privacy setting a `no_private_endpoint` refusal is about. */
  refusedFor?: { model: string; privacy: 'zdr' | 'no-training' };
  cause?: unknown;
}

const MAX_PROVIDER_MESSAGE = 300;

/**
 * Every failure of the OpenRouter service, classified once at the boundary so
 * callers switch on `kind` and show `userMessage()` without knowing the SDK.
 */
export class LlmError extends Error {
  override readonly name = 'LlmError';
  readonly kind: LlmErrorKind;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly reasons?: string[];
  readonly providerMessage?: string;
  readonly code?: string;
  readonly refusedFor?: { model: string; privacy: 'zdr' | 'no-training' };

  constructor(kind: LlmErrorKind, message: string, details: LlmErrorDetails = {}) {
    super(redactSecrets(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.reasons && details.reasons.length > 0) this.reasons = details.reasons.map((r) => redactSecrets(r));
    if (details.providerMessage) this.providerMessage = truncate(redactSecrets(details.providerMessage), MAX_PROVIDER_MESSAGE);
    if (details.code !== undefined) this.code = details.code;
    if (details.refusedFor) this.refusedFor = details.refusedFor;
  }

  /** One short sentence for the person in the chat; never contains secrets. */
  userMessage(): string {
    switch (this.kind) {
      case 'rate_limited':
        return this.retryAfterMs !== undefined && this.retryAfterMs > 0
          ? `The model is rate limited; try again in ${Math.ceil(this.retryAfterMs / 1000)} s.`
          : 'The model is rate limited; try again in a moment.';
      case 'out_of_credits':
        return 'OpenRouter credits are exhausted; tell an admin.';
      case 'moderation':
        return this.reasons
          ? `The request was blocked by moderation: ${this.reasons.join(', ')}.`
          : 'The request was blocked by moderation.';
      case 'policy':
        return 'The request was blocked by an OpenRouter guardrail/policy on this account; tell an admin if that seems wrong.';
      case 'context_length':
        return 'The conversation is too long for this model; start a new one with /new.';
      case 'not_found':
        return 'No such model or no provider for it that fits the settings; check the name with /models or pick another model.';
      case 'no_private_endpoint':
        return noPrivateEndpointMessage(this.refusedFor);
      case 'upstream_down':
        return "The model's provider is down; try again or pick another model.";
      case 'timeout':
        return 'The model took too long to answer.';
      case 'bad_key':
        return "The bot's OpenRouter key was rejected; tell an admin.";
      case 'bad_request':
        return this.providerMessage
          ? `OpenRouter rejected the request: ${withoutFinalDot(this.providerMessage)}.`
          : 'OpenRouter rejected the request.';
      case 'mid_stream':
        return `The model stopped with an error mid-answer: ${withoutFinalDot(this.providerMessage ?? 'unknown error')}.`;
      case 'aborted':
        return 'The answer was stopped.';
      case 'network':
        return 'Could not reach OpenRouter; try again in a moment.';
      case 'invalid_output':
        return "The model's answer was not in the expected format; try again or pick another model.";
      case 'unknown':
        return 'Something went wrong while talking to the model.';
    }
  }
}

const PRIVACY_WORDS = { zdr: 'zero-data-retention', 'no-training': 'no-training (data collection denied)' } as const;

function noPrivateEndpointMessage(refusedFor: LlmError['refusedFor']): string {
  if (!refusedFor) return "No provider of this model meets this channel's privacy setting; try another model.";
  const words = PRIVACY_WORDS[refusedFor.privacy];
  return `No provider of ${refusedFor.model} meets this channel's ${words} setting; try another model, or ask an admin for \`/model option privacy default\`.`;
}

/**
 * OpenRouter answers 404 "No endpoints found…" when no provider of the model
 * qualifies under the request's routing. With a privacy mode on, that is the
 * privacy setting refusing every provider: say so, naming the model.
 */
export function privacyRefusal(error: LlmError, request: { model: string; privacy?: string }): LlmError {
  const privacy = request.privacy;
  if (privacy !== 'zdr' && privacy !== 'no-training') return error;
  const noEndpoints = /no endpoints found/i.test(`${error.providerMessage ?? ''} ${error.message}`);
  if (error.status !== 404 || !noEndpoints) return error;
  return new LlmError('no_private_endpoint', error.message, {
    status: error.status,
    ...(error.providerMessage ? { providerMessage: error.providerMessage } : {}),
    ...(error.code !== undefined ? { code: error.code } : {}),
    refusedFor: { model: request.model, privacy },
    cause: error,
  });
}

/** OpenRouter's error body: `{error: {code, message, metadata}}` (the SDK keeps the inner object). */
interface OpenRouterErrorBody {
  code?: unknown;
  message?: unknown;
  metadata?: Record<string, unknown>;
}

function readErrorBody(value: unknown): OpenRouterErrorBody | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  // Some paths hand over the whole body, others only its `error`.
  if (typeof v.error === 'object' && v.error !== null && !('message' in v)) return readErrorBody(v.error);
  const metadata = typeof v.metadata === 'object' && v.metadata !== null ? (v.metadata as Record<string, unknown>) : undefined;
  return { code: v.code, message: v.message, ...(metadata ? { metadata } : {}) };
}

function stringOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const CONTEXT_PATTERN = /context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|reduce the length/i;
const MODERATION_PATTERN = /moderation|flagged/i;
const POLICY_PATTERN = /request blocked|guardrail|polic(y|ies)/i;

/**
 * A 403 is moderation (`metadata.reasons`, `flagged_input`), a guardrail the
 * account's admin set up ("Request blocked…", `metadata.patterns`), or a key
 * limit; it never means the key itself was rejected unless nothing else fits.
 */
function kindFor403(text: string, metadata: Record<string, unknown> | undefined): LlmErrorKind {
  if (metadata?.reasons !== undefined || metadata?.flagged_input !== undefined) return 'moderation';
  if (metadata?.patterns !== undefined || POLICY_PATTERN.test(text)) return 'policy';
  if (MODERATION_PATTERN.test(text)) return 'moderation';
  if (/limit/i.test(text)) return 'out_of_credits';
  return 'bad_key';
}

/** Retry-After in seconds or as an HTTP date; retry-after-ms; OpenRouter's X-RateLimit-Reset (epoch ms) in metadata. */
export function parseRetryAfterMs(headers: Headers | undefined, metadata?: Record<string, unknown>, now = Date.now()): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const after = headers?.get('retry-after');
  if (after) {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const metaHeaders = metadata?.headers;
  if (typeof metaHeaders === 'object' && metaHeaders !== null) {
    const reset = Number((metaHeaders as Record<string, unknown>)['X-RateLimit-Reset']);
    if (Number.isFinite(reset) && reset > now) return reset - now;
  }
  return undefined;
}

/** Maps an OpenRouter error (HTTP status or the `code` inside a 200 body) to a kind. */
function kindForStatus(status: number, hasOpenRouterBody: boolean, text: string, metadata?: Record<string, unknown>): LlmErrorKind {
  const errorType = typeof metadata?.error_type === 'string' ? metadata.error_type : '';
  if (errorType === 'context_length_exceeded' || status === 413 || CONTEXT_PATTERN.test(text)) return 'context_length';
  switch (status) {
    case 400:
    case 422:
      return 'bad_request';
    case 401:
      return 'bad_key';
    case 402:
      return 'out_of_credits';
    case 403:
      return kindFor403(text, metadata);
    case 404:
      return 'not_found';
    case 408:
    case 504:
      return 'timeout';
    case 429:
      return 'rate_limited';
    case 503:
      // OpenRouter's 503 means "no provider meets the routing constraints"; a bare 503 is an outage.
      return hasOpenRouterBody ? 'not_found' : 'upstream_down';
    default:
      if (status >= 500) return 'upstream_down';
      if (status >= 400) return 'bad_request';
      return 'unknown';
  }
}

function reasonsOf(metadata: Record<string, unknown> | undefined): string[] | undefined {
  const reasons = metadata?.reasons;
  if (!Array.isArray(reasons)) return undefined;
  const list = reasons.filter((r): r is string => typeof r === 'string');
  return list.length > 0 ? list : undefined;
}

/** The most useful explanation: metadata.raw beats a bare "Provider returned error". */
function providerMessageOf(body: OpenRouterErrorBody | undefined, fallback: string | undefined): string | undefined {
  const message = stringOf(body?.message);
  const raw = stringOf(body?.metadata?.raw);
  if (raw && (!message || /provider returned error/i.test(message))) return raw;
  return message ?? fallback;
}

/**
 * Builds an error from an OpenRouter error object found inside a 200 response
 * (`choices[].error` or a mid-stream chunk).
 */
export function errorFromBody(body: unknown, kindOverride?: LlmErrorKind): LlmError {
  const parsed = readErrorBody(body);
  const providerMessage = providerMessageOf(parsed, undefined) ?? 'unknown error';
  const numeric = typeof parsed?.code === 'number' ? parsed.code : Number(parsed?.code);
  const kind =
    kindOverride ??
    (Number.isInteger(numeric) && numeric >= 400 ? kindForStatus(numeric, true, providerMessage, parsed?.metadata) : 'upstream_down');
  const reasons = reasonsOf(parsed?.metadata);
  return new LlmError(kind, `OpenRouter error: ${providerMessage}`, {
    providerMessage,
    ...(reasons ? { reasons } : {}),
    ...(codeString(parsed?.code) !== undefined ? { code: codeString(parsed?.code) } : {}),
  });
}

/**
 * Classifies anything thrown while talking to OpenRouter. `secrets` (the API
 * key) are removed from every message on top of the generic key patterns.
 */
export function classifyError(err: unknown, options: { secrets?: readonly string[] } = {}): LlmError {
  const scrub = (text: string) => redactSecrets(text, options.secrets);
  if (err instanceof LlmError) return err;

  if (err instanceof APIUserAbortError) return new LlmError('aborted', 'request aborted', { cause: err });
  if (err instanceof APIConnectionTimeoutError) return new LlmError('timeout', 'request to OpenRouter timed out', { cause: err });
  if (err instanceof APIConnectionError) {
    return new LlmError('network', scrub(`could not reach OpenRouter: ${err.message}`), { cause: err });
  }
  if (err instanceof APIError) {
    const body = readErrorBody(err.error);
    const providerMessage = providerMessageOf(body, err.message);
    const scrubbed = providerMessage === undefined ? undefined : scrub(providerMessage);
    const reasons = reasonsOf(body?.metadata)?.map(scrub);
    const code = codeString(body?.metadata?.error_type) ?? codeString(body?.code);
    const common = {
      ...(scrubbed ? { providerMessage: scrubbed } : {}),
      ...(reasons ? { reasons } : {}),
      ...(code !== undefined ? { code } : {}),
      cause: err,
    };
    const status = err.status as number | undefined;
    const headers = err.headers as Headers | undefined;
    if (status === undefined) {
      // The SDK throws a status-less APIError for an `error` chunk after streaming began.
      return new LlmError('mid_stream', `stream failed mid-answer: ${scrubbed ?? 'unknown error'}`, common);
    }
    const text = `${stringOf(body?.message) ?? ''} ${stringOf(body?.metadata?.raw) ?? ''}`;
    let kind = kindForStatus(status, body !== undefined, text, body?.metadata);
    // The typed subclasses agree with the table above; they are checked for clarity of intent.
    if (err instanceof RateLimitError) kind = 'rate_limited';
    else if (err instanceof AuthenticationError) kind = 'bad_key';
    else if (err instanceof NotFoundError) kind = 'not_found';
    else if (err instanceof BadRequestError && kind !== 'context_length') kind = 'bad_request';
    else if (err instanceof PermissionDeniedError && kind !== 'moderation' && kind !== 'policy' && kind !== 'out_of_credits') kind = 'bad_key';
    const retryAfterMs = kind === 'rate_limited' ? parseRetryAfterMs(headers, body?.metadata) : undefined;
    return new LlmError(kind, `OpenRouter answered ${status}: ${scrubbed ?? 'no message'}`, {
      ...common,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  if (err instanceof Error) {
    if (err.name === 'AbortError') return new LlmError('aborted', 'request aborted', { cause: err });
    if (err.name === 'TimeoutError') return new LlmError('timeout', 'request timed out', { cause: err });
    if (err instanceof SyntaxError) {
      return new LlmError('mid_stream', scrub(`malformed data from OpenRouter: ${err.message}`), {
        providerMessage: 'malformed data in the stream',
        cause: err,
      });
    }
    if (err instanceof TypeError && /terminated|fetch failed|socket|ECONN|other side closed/i.test(`${err.message} ${String(err.cause)}`)) {
      return new LlmError('network', scrub(`connection to OpenRouter failed: ${err.message}`), { cause: err });
    }
    return new LlmError('unknown', scrub(err.message), { cause: err });
  }
  return new LlmError('unknown', scrub(String(err)));
}

const KEY_PATTERNS = [/sk-or-[A-Za-z0-9_-]{4,}/g, /sk-[A-Za-z0-9_-]{16,}/g, /Bearer\s+[A-Za-z0-9._~+/=-]+/gi];

/** Removes API keys from text that may reach a log line or a chat message. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  for (const pattern of KEY_PATTERNS) out = out.replace(pattern, '[redacted]');
  return out;
}

function codeString(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}


function withoutFinalDot(text: string): string {
  return text.trim().replace(/[.!]+$/, '');
}
