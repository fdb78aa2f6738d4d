/**
 * Prices as people read them in /models, /model and autocomplete. OpenRouter
 * lists `-1` for routers (openrouter/auto) and other variable prices; shown as
 * a number that became "$-1000000.0000 per 1M tokens", so this says what is
 * true instead: the price depends on the model OpenRouter picks.
 */
import { formatUsd } from './quota.ts';
import { isVariablePrice, pricePerMillion } from '../llm/pricing.ts';
import type { ModelInfo, ModelPricing } from '../llm/types.ts';

export type PricedModel = Pick<ModelInfo, 'isFree' | 'pricing' | 'ceilingPricing'>;

function perMillion(pricing: ModelPricing, separator: string): string {
  const p = pricePerMillion(pricing);
  return `${formatUsd(p.prompt)}${separator}${formatUsd(p.completion)}`;
}

/**
 * "free", "$0.15 in / $0.60 out per 1M tokens", or for a variable price
 * "price depends on the model OpenRouter picks (up to $3.00 in / $15.00 out
 * per 1M tokens, the priciest text model)". `short` keeps a variable price short
 * enough for an autocomplete label.
 */
export function formatPrices(info: PricedModel, options: { short?: boolean } = {}): string {
  if (info.isFree) return 'free';
  if (!isVariablePrice(info.pricing)) return `${perMillion(info.pricing, ' in / ')} out per 1M tokens`;
  const ceiling = info.ceilingPricing;
  if (options.short) return ceiling ? `price varies, up to ${perMillion(ceiling, ' / ')} per 1M` : 'price varies';
  const words = 'price depends on the model OpenRouter picks';
  return ceiling ? `${words} (up to ${perMillion(ceiling, ' in / ')} out per 1M tokens, the priciest text model)` : words;
}

/** The prices to compare a model by: its own, or for a variable price the most it may cost. */
function comparable(info: PricedModel | undefined): ModelPricing | undefined {
  if (!info) return undefined;
  if (info.isFree) return { prompt: 0, completion: 0, request: 0 };
  return isVariablePrice(info.pricing) ? info.ceilingPricing : info.pricing;
}

/**
 * Whether `next` may cost more per token than `before`: a fallback that does
 * turns an outage of the cheaper model into a bigger bill. Undefined when a
 * price is unknown.
 */
export function costsMore(next: PricedModel | undefined, before: PricedModel | undefined): boolean | undefined {
  const a = comparable(next);
  const b = comparable(before);
  if (!a || !b) return undefined;
  return a.prompt > b.prompt || a.completion > b.completion || a.request > b.request;
}

/** What commands need of the LLM layer's limits and types, so they depend on the core alone. */
export { MAX_FALLBACK_MODELS, MAX_MODELS_PER_REQUEST } from '../llm/to-openai-request.ts';
export type { ModelInfo } from '../llm/types.ts';
