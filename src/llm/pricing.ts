import type { ModelInfo, ModelPricing } from './types.ts';

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
