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
 * Cost of one completion from catalog prices. Undefined when the model is
 * unknown or its price is variable (OpenRouter lists `-1`, e.g. openrouter/auto).
 */
export function computeCostUsd(model: ModelInfo | undefined, promptTokens: number, completionTokens: number): number | undefined {
  if (!model) return undefined;
  const { prompt, completion, request } = model.pricing;
  if (prompt < 0 || completion < 0 || request < 0) return undefined;
  if (![prompt, completion, request].every(Number.isFinite)) return undefined;
  return roundUsd(promptTokens * prompt + completionTokens * completion + request);
}

/** Twelve decimals keeps float noise (0.1 + 0.2) out of sums and logs. */
function roundUsd(value: number): number {
  return Math.round(value * 1e12) / 1e12;
}
