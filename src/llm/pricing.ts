import type { ChatMessage, ModelCatalog, ModelInfo, ModelPricing, PdfEngine } from './types.ts';

/** OpenRouter lists USD per token; people (and `provider.max_price`) think in USD per 1M tokens. */
export function pricePerMillion(pricing: ModelPricing): { prompt: number; completion: number; request: number } {
  return {
    prompt: roundUsd(pricing.prompt * 1_000_000),
    completion: roundUsd(pricing.completion * 1_000_000),
    request: pricing.request,
  };
}

/**
 * A price of `-1` (OpenRouter's "variable", for openrouter/auto and other
 * routers) or one the catalog did not give: the cost depends on the model
 * OpenRouter picks, so it cannot be shown or computed as a number.
 */
export function isVariablePrice(pricing: ModelPricing): boolean {
  return ![pricing.prompt, pricing.completion, pricing.request].every((p) => Number.isFinite(p) && p >= 0);
}

/** A model that answers in text only; image and audio generators have prices of another kind. */
function isTextModel(model: ModelInfo): boolean {
  const out = model.outputModalities;
  return out === undefined || out.length === 0 || out.every((m) => m === 'text');
}

/**
 * The most a router can cost per token: each price is the highest any
 * fixed-price text model in the catalog lists. Undefined for an empty catalog.
 */
export function worstCasePricing(models: readonly ModelInfo[]): ModelPricing | undefined {
  let ceiling: ModelPricing | undefined;
  for (const model of models) {
    if (isVariablePrice(model.pricing) || !isTextModel(model)) continue;
    const { prompt, completion, request } = model.pricing;
    ceiling = ceiling
      ? { prompt: Math.max(ceiling.prompt, prompt), completion: Math.max(ceiling.completion, completion), request: Math.max(ceiling.request, request) }
      : { prompt, completion, request };
  }
  return ceiling;
}

/**
 * Cost of one completion from catalog prices. Undefined when the model is
 * unknown or its price is variable (OpenRouter lists `-1`, e.g. openrouter/auto).
 */
export function computeCostUsd(model: ModelInfo | undefined, promptTokens: number, completionTokens: number): number | undefined {
  if (!model) return undefined;
  if (isVariablePrice(model.pricing)) return undefined;
  const { prompt, completion, request } = model.pricing;
  return roundUsd(promptTokens * prompt + completionTokens * completion + request);
}

/** Twelve decimals keeps float noise (0.1 + 0.2) out of sums and logs. */
function roundUsd(value: number): number {
  return Math.round(value * 1e12) / 1e12;
}

/** The router whose choice AUTO_ROUTER_MODELS bounds (sent as the auto-router plugin's `allowed_models`). */
export const AUTO_ROUTER_MODEL = 'openrouter/auto';
const ROUTER_PREFIX = 'openrouter/';
const VARIANT_SUFFIX = /:(nitro|floor|online|thinking|extended|beta)$/;

/** Whether `id` matches an allow-list entry: an exact id, or a pattern with `*` (`anthropic/*`). */
export function matchesModelPattern(id: string, pattern: string): boolean {
  if (!pattern.includes('*')) return id === pattern;
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`).test(id);
}

/** What the priciest model that may answer costs per token, or which model's price is not known and why. */
export type WorstCasePrice =
  | { known: true; pricing: ModelPricing }
  | { known: false; model: string; reason: 'catalog-unavailable' | 'not-listed' };

const FREE: ModelPricing = { prompt: 0, completion: 0, request: 0 };

/**
 * The worst case over every model that may answer a request: the primary and
 * each fallback sent (the caller passes them), each price field at its
 * highest. `openrouter/auto` may route to any model of `autoRouterModels`
 * (OpenRouter enforces that list through the auto-router plugin) or, without
 * the list, to the priciest text model of the catalog; other variable prices
 * count at that catalog ceiling too. A `:free` variant costs nothing. A model
 * the catalog does not list, or any model while the catalog cannot be loaded,
 * has no known price.
 */
export async function worstCasePrice(
  catalog: Pick<ModelCatalog, 'get' | 'ceiling' | 'available'>,
  models: readonly string[],
  autoRouterModels: readonly string[],
): Promise<WorstCasePrice> {
  let worst = FREE;
  for (const id of new Set(models)) {
    const pricing = await priceOf(catalog, id, autoRouterModels);
    if (pricing === undefined) {
      return { known: false, model: id, reason: (await catalog.available()) ? 'not-listed' : 'catalog-unavailable' };
    }
    worst = {
      prompt: Math.max(worst.prompt, pricing.prompt),
      completion: Math.max(worst.completion, pricing.completion),
      request: Math.max(worst.request, pricing.request),
    };
  }
  return { known: true, pricing: worst };
}

async function priceOf(catalog: Pick<ModelCatalog, 'get' | 'ceiling'>, id: string, autoRouterModels: readonly string[]): Promise<ModelPricing | undefined> {
  if (id.endsWith(':free')) return FREE;
  if (id === AUTO_ROUTER_MODEL && autoRouterModels.length > 0) return catalog.ceiling(autoRouterModels);
  const info = (await catalog.get(id)) ?? (VARIANT_SUFFIX.test(id) ? await catalog.get(id.replace(VARIANT_SUFFIX, '')) : undefined);
  if (info && !isVariablePrice(info.pricing)) return info.pricing;
  // A router (listed at -1, or not listed as a plain model) or another variable price: the catalog ceiling.
  if (info || id.startsWith(ROUTER_PREFIX)) return catalog.ceiling();
  return undefined;
}

/**
 * What one web search result costs: OpenRouter prices its search (Exa) at
 * $4 per 1000 results, so a search request costs at most max_results × this.
 */
export const WEB_SEARCH_USD_PER_RESULT = 0.004;

/**
 * The worst case one round's web search adds: one search request returning
 * `maxResults` results. It is added to the round's per-request price, so the
 * reservation and every round's top-up count it.
 */
export function webSearchWorstCaseUsd(maxResults: number): number {
  return roundUsd(maxResults * WEB_SEARCH_USD_PER_RESULT);
}

/**
 * What OpenRouter's file-parser engines charge per PDF page: mistral-ocr
 * $2 per 1,000 pages, cloudflare-ai free, native as input tokens (counted in
 * the prompt bound). Without an engine OpenRouter uses the model's native
 * file input and falls back to mistral-ocr, so `default` counts as mistral-ocr.
 */
export const PDF_ENGINE_USD_PER_PAGE: Record<PdfEngine, number> = {
  'mistral-ocr': 0.002,
  'cloudflare-ai': 0,
  native: 0,
  default: 0.002,
};

/**
 * The worst case the files of a request add beyond its tokens: each image at
 * the model's per-image price (`pricing.image`), each PDF page at the engine's
 * price. Added to a round's per-request price, like web search.
 */
export function attachmentsWorstCaseUsd(messages: readonly ChatMessage[], imageUsd: number, engine: PdfEngine): number {
  let images = 0;
  let pages = 0;
  for (const message of messages) {
    if (message.role !== 'user' || typeof message.content === 'string') continue;
    for (const part of message.content) {
      if (part.type === 'image') images++;
      else if (part.type === 'file') pages += part.pages ?? 1;
    }
  }
  return roundUsd(images * Math.max(0, imageUsd) + pages * PDF_ENGINE_USD_PER_PAGE[engine]);
}
