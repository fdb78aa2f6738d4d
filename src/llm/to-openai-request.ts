import { createHash } from 'node:crypto';
import type { ChatCompletionContentPart, ChatCompletionFunctionTool, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { AUTO_ROUTER_MODEL } from './pricing.ts';
import type { ChatMessage, ChatRequest, MessagePart, PdfEngine, PrivacyMode, ProviderPreferences, ReasoningEffort, ToolSpec, WebSearchOptions } from './types.ts';

/**
 * OpenRouter rejects a `models` array longer than this with HTTP 400
 * ("'models' array must have 3 items or fewer"; reported by several projects,
 * not in its docs), failing every answer of a channel configured that way.
 */
export const MAX_MODELS_PER_REQUEST = 3;

/** The primary model takes one of the places, so two fallbacks at most. */
export const MAX_FALLBACK_MODELS = MAX_MODELS_PER_REQUEST - 1;

/**
 * The fallbacks that go into `models`: without the primary, without repeats,
 * and never more than OpenRouter takes. Settings stored before the limit was
 * known may hold more; the extra ones are dropped here, the last line.
 */
export function fallbacksToSend(request: Pick<ChatRequest, 'model' | 'fallbackModels'>): string[] {
  const unique = [...new Set(request.fallbackModels ?? [])].filter((m) => m !== request.model);
  return unique.slice(0, MAX_FALLBACK_MODELS);
}

/** OpenRouter-only body fields; the SDK sends them as they are. */
export interface OpenRouterExtras {
  models?: string[];
  plugins?: Array<{ id: 'auto-router'; allowed_models: string[] } | FileParserPlugin>;
  provider?: OpenRouterProvider;
  user?: string;
  reasoning?: { effort: ReasoningEffort };
  /** At most 256 characters; keeps a conversation on one provider and its cache. */
  session_id?: string;
  /** Top level: the provider caches the prompt (Anthropic, Gemini need it asked). */
  cache_control?: { type: 'ephemeral' };
}

export interface OpenRouterProvider {
  order?: string[];
  sort?: string;
  allow_fallbacks?: boolean;
  only?: string[];
  ignore?: string[];
  data_collection?: 'allow' | 'deny';
  zdr?: boolean;
  require_parameters?: boolean;
  max_price?: { prompt?: number; completion?: number };
}

export function toOpenAiMessages(messages: readonly ChatMessage[]): ChatCompletionMessageParam[] {
  return messages.map((m): ChatCompletionMessageParam => {
    switch (m.role) {
      case 'system':
        return { role: 'system', content: m.content };
      case 'user': {
        const content = userContent(m.content);
        return m.name ? { role: 'user', content, name: m.name } : { role: 'user', content };
      }
      case 'assistant':
        return withAnnotations(withReasoningDetails(assistantMessage(m), m.reasoningDetails), m.annotations);
      case 'tool':
        return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    }
  });
}

function assistantMessage(m: Extract<ChatMessage, { role: 'assistant' }>): ChatCompletionMessageParam {
  if (!m.toolCalls || m.toolCalls.length === 0) return { role: 'assistant', content: m.content };
  return {
    role: 'assistant',
    content: m.content === '' ? null : m.content,
    tool_calls: m.toolCalls.map((c) => ({
      id: c.id,
      type: 'function' as const,
      function: { name: c.name, arguments: c.arguments },
    })),
  };
}

/** OpenRouter's `reasoning_details` ride on the assistant message as they came (the SDK sends extra fields as they are). */
function withReasoningDetails(message: ChatCompletionMessageParam, details: unknown[] | undefined): ChatCompletionMessageParam {
  if (!details || details.length === 0) return message;
  return Object.assign({}, message, { reasoning_details: details });
}

/** A parsed PDF's `file` annotations ride on the assistant message that answered about it, as OpenRouter returned them. */
function withAnnotations(message: ChatCompletionMessageParam, annotations: unknown[] | undefined): ChatCompletionMessageParam {
  if (!annotations || annotations.length === 0) return message;
  return Object.assign({}, message, { annotations });
}

/** One text part goes as a plain string (what every provider takes); several parts as content parts. */
function userContent(content: string | readonly MessagePart[]): string | ChatCompletionContentPart[] {
  if (typeof content === 'string') return content;
  if (content.length === 1 && content[0]!.type === 'text') return content[0]!.text;
  return content.map(toContentPart);
}

/** OpenRouter's content parts: `image_url` for images, `file` (filename, file_data) for PDFs. */
function toContentPart(part: MessagePart): ChatCompletionContentPart {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return { type: 'image_url', image_url: { url: part.url } };
    case 'file':
      return { type: 'file', file: { filename: part.name, file_data: part.url } };
  }
}

/** OpenRouter's PDF plugin; without `pdf` OpenRouter picks the engine. */
export interface FileParserPlugin {
  id: 'file-parser';
  pdf?: { engine: Exclude<PdfEngine, 'default'> };
}

/** Whether any user message of the request carries a PDF. */
export function carriesFiles(messages: readonly ChatMessage[]): boolean {
  return messages.some((m) => m.role === 'user' && typeof m.content !== 'string' && m.content.some((part) => part.type === 'file'));
}

/** The file-parser plugin for a request that carries a PDF: the channel's engine, or OpenRouter's choice. */
export function fileParserPlugin(engine: PdfEngine | undefined): FileParserPlugin {
  return engine === undefined || engine === 'default' ? { id: 'file-parser' } : { id: 'file-parser', pdf: { engine } };
}

export function toOpenAiTools(specs: readonly ToolSpec[]): ChatCompletionFunctionTool[] {
  return specs.map((s) => ({
    type: 'function',
    function: { name: s.name, description: s.description, parameters: s.parameters },
  }));
}

/** OpenRouter's web search server tool as it goes in `tools` (beside function tools). */
export interface WebSearchServerTool {
  type: 'openrouter:web_search';
  parameters: { max_results: number; allowed_domains?: string[] };
}

export function toWebSearchTool(options: WebSearchOptions): WebSearchServerTool {
  const parameters: WebSearchServerTool['parameters'] = { max_results: options.maxResults };
  if (options.allowedDomains && options.allowedDomains.length > 0) parameters.allowed_domains = [...options.allowedDomains];
  return { type: 'openrouter:web_search', parameters };
}

/** The `provider` fields a privacy mode adds (nothing for `default`). */
export function privacyPreferences(privacy: PrivacyMode | undefined): ProviderPreferences {
  if (privacy === 'zdr') return { zdr: true };
  if (privacy === 'no-training') return { dataCollection: 'deny' };
  return {};
}

/** camelCase preferences to OpenRouter's snake_case `provider` object; unset fields are left out. */
export function toProviderBody(p: ProviderPreferences): OpenRouterProvider {
  const out: OpenRouterProvider = {};
  if (p.order) out.order = p.order;
  if (p.sort) out.sort = p.sort;
  if (p.allowFallbacks !== undefined) out.allow_fallbacks = p.allowFallbacks;
  if (p.only) out.only = p.only;
  if (p.ignore) out.ignore = p.ignore;
  if (p.dataCollection) out.data_collection = p.dataCollection;
  if (p.zdr !== undefined) out.zdr = p.zdr;
  if (p.requireParameters !== undefined) out.require_parameters = p.requireParameters;
  if (p.maxPrice) {
    const maxPrice: { prompt?: number; completion?: number } = {};
    if (p.maxPrice.prompt !== undefined) maxPrice.prompt = p.maxPrice.prompt;
    if (p.maxPrice.completion !== undefined) maxPrice.completion = p.maxPrice.completion;
    out.max_price = maxPrice;
  }
  return out;
}

/** A stable pseudonym for the end user: OpenRouter sees the same value each time, never the platform id. */
export function hashUser(user: { platform: string; id: string }): string {
  return createHash('sha256').update(`${user.platform}:${user.id}`).digest('hex').slice(0, 32);
}

/**
 * The parts of the body shared by streaming and structured calls. With an
 * allow-list for the auto router and `openrouter/auto` among the models, the
 * auto-router plugin carries it, so OpenRouter itself keeps the router inside
 * it (the quota reserves for the priciest model on the list).
 */
export function commonBody(request: ChatRequest, autoRouterModels: readonly string[] = []): OpenRouterExtras & {
  model: string;
  max_tokens?: number;
  temperature?: number;
} {
  const body: OpenRouterExtras & { model: string; max_tokens?: number; temperature?: number } = { model: request.model };
  const fallbacks = fallbacksToSend(request);
  if (fallbacks.length > 0) body.models = [request.model, ...fallbacks];
  if (autoRouterModels.length > 0 && [request.model, ...fallbacks].includes(AUTO_ROUTER_MODEL)) {
    body.plugins = [{ id: 'auto-router', allowed_models: [...autoRouterModels] }];
  }
  if (carriesFiles(request.messages)) body.plugins = [...(body.plugins ?? []), fileParserPlugin(request.pdfEngine)];
  const provider = { ...request.provider, ...privacyPreferences(request.privacy) };
  if (Object.keys(provider).length > 0) body.provider = toProviderBody(provider);
  if (request.user) body.user = hashUser(request.user);
  if (request.sessionId) body.session_id = request.sessionId.slice(0, MAX_SESSION_ID_CHARS);
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.reasoningEffort !== undefined) body.reasoning = { effort: request.reasoningEffort };
  return body;
}

/**
 * `modalities: ["image", "text"]` for a request that may answer with pictures.
 * The SDK types `modalities` as text and audio only, so the field is returned
 * under a type without it (the SDK sends extra fields as they are).
 */
export function outputModalities(request: Pick<ChatRequest, 'imageOutput'>): Record<never, never> {
  return request.imageOutput ? { modalities: ['image', 'text'] } : {};
}

/** OpenRouter's limit on `session_id`. */
export const MAX_SESSION_ID_CHARS = 256;

/**
 * Conversations whose prompt bound (promptTokensCeiling, which counts a token
 * per UTF-8 byte, so about 1,000 real tokens of English) is at least this
 * many tokens ask explicitly-caching model families to cache the prompt.
 * Below about 1,024 real tokens Anthropic and Gemini cache nothing (the
 * request is still answered, just not cached), and a short exchange rarely
 * earns back Anthropic's premium for writing the cache.
 */
export const CACHE_CONTROL_MIN_PROMPT_TOKENS = 4096;

/** Model families that cache only when asked (`cache_control`); the others cache on their own. */
const EXPLICIT_CACHE_FAMILIES = ['anthropic/', 'google/gemini'];

export function needsExplicitCache(model: string): boolean {
  return EXPLICIT_CACHE_FAMILIES.some((prefix) => model.startsWith(prefix));
}

/** Top-level `cache_control` for an explicitly-caching model once the prompt is long enough; nothing otherwise. */
export function cacheControl(model: string, promptTokensBound: number): Pick<OpenRouterExtras, 'cache_control'> {
  return needsExplicitCache(model) && promptTokensBound >= CACHE_CONTROL_MIN_PROMPT_TOKENS ? { cache_control: { type: 'ephemeral' } } : {};
}
