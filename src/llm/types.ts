/**
 * Switchboard's own view of a chat completion. The openai SDK's wire types stay
 * inside src/llm; everything else speaks these types.
 */
import type { LlmError } from './errors.ts';

export interface ToolCall {
  id: string;
  name: string;
  /** The raw JSON text the model produced; may be invalid JSON. */
  arguments: string;
}

/**
 * A piece of what a person said: text, an image or a file, carried the same
 * way from the adapter to the request. Images and PDFs arrive as parts only
 * after src/core/attachments.ts checked and resolved them.
 */
export type MessagePart =
  | { type: 'text'; text: string }
  /** An image (PNG, JPEG, WebP, GIF) as an https or data URL; `bytes` is what the URL carries (0 when not known). */
  | { type: 'image'; url: string; name: string; bytes: number }
  /** A PDF as a data or https URL, sent with OpenRouter's file-parser plugin; `pages` is an upper bound when known. */
  | { type: 'file'; url: string; name: string; bytes: number; pages?: number };

/** The text of a message's parts, joined (what counts for prompts and token estimates); images and files have none. */
export function partsText(parts: readonly MessagePart[]): string {
  return parts.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('\n');
}

/** OpenRouter's PDF engines (the `pdf-engine` option); `default` lets OpenRouter pick. */
export type PdfEngine = 'native' | 'cloudflare-ai' | 'mistral-ocr' | 'default';

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | MessagePart[]; name?: string }
  | {
      role: 'assistant';
      content: string;
      toolCalls?: ToolCall[];
      /** OpenRouter's `reasoning_details` of this turn, sent back unchanged (tool loops keep the model's chain of thought). */
      reasoningDetails?: unknown[];
      /** OpenRouter's `file` annotations of this turn (a parsed PDF), sent back so the PDF is not parsed again. */
      annotations?: unknown[];
    }
  | { role: 'tool'; toolCallId: string; content: string };

export type ProviderSort = 'price' | 'throughput' | 'latency';

export interface ProviderPreferences {
  order?: string[];
  sort?: ProviderSort;
  allowFallbacks?: boolean;
  only?: string[];
  ignore?: string[];
  dataCollection?: 'allow' | 'deny';
  /** Zero-data-retention endpoints only. */
  zdr?: boolean;
  requireParameters?: boolean;
  /** USD per 1M tokens. */
  maxPrice?: { prompt?: number; completion?: number };
}

/** A JSON-schema tool as sent to the model (already converted from zod). */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** OpenRouter's `reasoning.effort`. */
export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';
/** OpenRouter's web search server tool (it runs on OpenRouter's side, not in our tool loop). */
export interface WebSearchOptions {
  maxResults: number;
  /** Only these domains; absent or empty: any. */
  allowedDomains?: readonly string[];
}

/** The privacy routing a request asks for (the `privacy` setting); `default` sends nothing. */
export type PrivacyMode = 'zdr' | 'no-training' | 'default';

/** A source the answer cites (an OpenRouter `url_citation` annotation). */
export interface Citation {
  url: string;
  title: string;
  /** Where the citing text starts in the answer, when OpenRouter says. */
  startIndex?: number;
  /** Where the citing text ends (exclusive), when OpenRouter says. */
  endIndex?: number;
}

export interface ChatRequest {
  model: string;
  /** Sent as `reasoning: {effort}`; the caller leaves it out for models that do not list `reasoning`. */
  reasoningEffort?: ReasoningEffort;
  /** Tried in order by OpenRouter after `model` (the `models` field). */
  fallbackModels?: string[];
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  provider?: ProviderPreferences;
  /** Sent as `provider.zdr` / `provider.data_collection`; names the setting when no endpoint qualifies. */
  privacy?: PrivacyMode;
  /** OpenRouter's web search server tool, sent in `tools` when set. */
  webSearch?: WebSearchOptions;
  /**
   * Sent as `modalities: ["image", "text"]`: the model may answer with
   * pictures (`images` events). Only for models whose catalog lists `image`
   * among its output modalities.
   */
  imageOutput?: boolean;
  /** The file-parser plugin's engine, sent when a message carries a PDF (`default`: the plugin without an engine). */
  pdfEngine?: PdfEngine;
  /** Who asked; hashed before it leaves the process, never sent raw. */
  user?: { platform: string; id: string };
  /**
   * Sent as OpenRouter's `session_id` (at most 256 characters): every request
   * of one conversation carries the same value, so follow-ups stay on one
   * provider and hit its prompt cache.
   */
  sessionId?: string;
  signal?: AbortSignal;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens?: number;
  /** Prompt tokens read from the provider's cache (`prompt_tokens_details.cached_tokens`), part of promptTokens. */
  cachedTokens?: number;
  /** Searches OpenRouter ran (`usage.server_tool_use_details.web_search_requests`). */
  webSearchRequests?: number;
  costUsd: number;
  /** Where costUsd came from: OpenRouter's `usage.cost`, catalog prices, or nothing known. */
  costSource: 'openrouter' | 'catalog' | 'unknown';
}

export const emptyUsage = (): Usage => ({
  promptTokens: 0,
  completionTokens: 0,
  costUsd: 0,
  costSource: 'unknown',
});

export interface CompletionResult {
  text: string;
  modelRequested: string;
  /** The model that actually answered (the response's `model`). */
  modelAnswered: string;
  /** True when modelAnswered is not modelRequested (a `models` fallback answered). */
  isFallback: boolean;
  finishReason: string | null;
  /** OpenRouter's generation id (the response `id`) of the last round. */
  generationId?: string;
  /** Summed over every tool round. */
  usage: Usage;
  /** Number of completion calls made (1 without tools). */
  rounds: number;
  /** OpenRouter's `file` annotations (parsed PDFs), kept with the answer and sent back on follow-ups. */
  fileAnnotations?: unknown[];
  timeToFirstTokenMs?: number;
  totalMs: number;
}

export type StreamEvent =
  | { type: 'text'; text: string }
  /**
   * The model is thinking: a piece of its reasoning text ('' for a signature-only
   * chunk or encrypted reasoning, which has none to show).
   */
  | { type: 'reasoning'; text: string; encrypted: boolean }
  | { type: 'tool-call'; call: ToolCall }
  | {
      type: 'tool-result';
      callId: string;
      name: string;
      /** What was sent back to the model as the tool's result. */
      content: string;
      isError: boolean;
    }
  | { type: 'usage'; usage: Usage }
  /** Sources cited so far (url_citation annotations), as they arrive. */
  | { type: 'citations'; citations: Citation[] }
  /**
   * Pictures the model returned (`delta.images[].image_url.url`), as the URLs
   * came: normally `data:image/png;base64,…`, unchecked (the caller validates).
   */
  | { type: 'images'; urls: string[] }
  | { type: 'done'; result: CompletionResult }
  | {
      type: 'error';
      error: LlmError;
      /** Text already streamed before the error; kept and shown. */
      partialText: string;
      /** What was used before the failure (summed over rounds), for settling quotas. */
      usage: Usage;
      modelAnswered?: string;
      generationId?: string;
    };

export interface ModelPricing {
  /** USD per token, as OpenRouter lists them. */
  prompt: number;
  completion: number;
  /** USD per request. */
  request: number;
  /** USD per image (`pricing.image`), in or out, when the catalog lists one. */
  image?: number;
}

export interface ModelInfo {
  id: string;
  name: string;
  description?: string;
  contextLength: number;
  maxCompletionTokens?: number;
  pricing: ModelPricing;
  supportedParameters: string[];
  /** `:free` suffix, or every price zero (a variable or missing price is never free). */
  isFree: boolean;
  /** `architecture.output_modalities`, when the catalog lists them. */
  outputModalities?: string[];
  /** `architecture.input_modalities` (`image` for vision models), when the catalog lists them. */
  inputModalities?: string[];
  /**
   * For a router or other variable-price model (a price of `-1`, or none
   * listed): the most it can cost per token, the priciest text model in the
   * catalog. Undefined when nothing is known.
   */
  ceilingPricing?: ModelPricing;
}

export interface ModelCatalog {
  /** Cached lookup; triggers a background refresh when stale. Undefined when unknown or the catalog is unavailable. */
  get(id: string): Promise<ModelInfo | undefined>;
  /** Text search over id, name and description, best matches first. */
  search(text: string, options?: { free?: boolean; limit?: number; inputModality?: string }): Promise<ModelInfo[]>;
  /** Close matches for an unknown id, for "did you mean". */
  suggest(id: string, limit?: number): Promise<string[]>;
  /** Whether the catalog could be loaded at least once. */
  available(): Promise<boolean>;
  /**
   * The most a fixed-price text model costs per token (each field at its
   * highest), over the whole catalog or over the models matching `patterns`
   * (ids, or `anthropic/*`). Undefined when the catalog is unavailable or
   * nothing matches.
   */
  ceiling(patterns?: readonly string[]): Promise<ModelPricing | undefined>;
  refresh(): Promise<void>;
  close(): void;
}

export interface ChatOptions {
  /** Who and where; required for tools and hooks. */
  context?: import('./tool-types.ts').RequestContext;
  /** Names of the tools this request may use (sent only when the model lists `tools`). */
  tools?: readonly string[];
  /** Tool rounds before the loop stops asking (default from config, 5). */
  maxRounds?: number;
  /**
   * The models `openrouter/auto` may pick (AUTO_ROUTER_MODELS): sent as the
   * auto-router plugin's `allowed_models` whenever the request names it.
   */
  autoRouterModels?: readonly string[];
  /**
   * Asked before every round is sent (the first included), with an upper
   * bound on what the round sends; the answer says whether it may offer tools
   * and how many tokens it may write, or that nothing more may be sent. The
   * quota tops its reservation up here so that a tool loop never spends past
   * a limit. Without it every round goes as planned.
   */
  beforeRound?: (plan: RoundPlan) => Promise<RoundDecision>;
}

export interface RoundPlan {
  /** 1 for the first round. */
  round: number;
  /** The model and the fallbacks sent (after hooks). */
  models: readonly string[];
  /** Upper bound on the prompt tokens of the messages this round sends. */
  promptTokens: number;
  /** Upper bound on the prompt tokens the tool definitions add when tools are offered (0 when none would be). */
  toolTokens: number;
  /** The round's output budget (max_tokens); undefined when the request sets none. */
  maxTokens: number | undefined;
  /** What the rounds before this one used, summed. */
  spent: Usage;
}

export type RoundDecision =
  /** Send it; `tools: false` sends it without tools (the model must answer now); `maxTokens` lowers its output budget. */
  | { send: true; tools: boolean; maxTokens?: number }
  /** Send nothing more: the answer ends with what it has. */
  | { send: false };

export interface LlmService {
  readonly catalog: ModelCatalog;
  /**
   * Streams one answer, running tool rounds and hooks. Never throws: the
   * iterable always ends with exactly one `done` or `error` event.
   */
  chat(request: ChatRequest, options?: ChatOptions): AsyncIterable<StreamEvent>;
  /**
   * Asks for `response_format: json_schema` built from a zod schema and returns
   * the parsed, validated value; throws LlmError (kind `invalid_output` when the
   * model's output does not validate).
   */
  structured<T>(
    request: ChatRequest,
    schema: import('zod').ZodType<T>,
    name?: string,
  ): Promise<{ value: T; result: CompletionResult }>;
}
