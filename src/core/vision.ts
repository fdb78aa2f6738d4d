/**
 * Vision gating: a question with an image goes only to a model whose catalog
 * entry lists `image` among its input modalities. Otherwise the channel's
 * `vision-model` answers instead, or the asker hears which models could, with
 * their prices, and nothing is sent upstream.
 */
import { isVariablePrice } from '../llm/pricing.ts';
import type { MessagePart, ModelCatalog, ModelInfo } from '../llm/types.ts';
import { UserFacingError } from './errors.ts';
import { formatPrices } from './price-label.ts';

/** How many vision-capable models a refusal names. */
export const VISION_SUGGESTIONS = 3;

/** False only when the catalog says the model takes no images; unknown models (routers, presets, catalog down) are let through for OpenRouter to judge. */
export function seesImages(info: ModelInfo | undefined): boolean {
  if (!info?.inputModalities) return true;
  return info.inputModalities.includes('image');
}

/** The cheapest fixed-price models that take images and answer in text, cheapest first. */
export async function visionModels(catalog: Pick<ModelCatalog, 'search'>, limit = VISION_SUGGESTIONS): Promise<ModelInfo[]> {
  const all = await catalog.search('', { inputModality: 'image', limit: 10_000 });
  // Models that answer in text; those that draw pictures (image output) are for /image, not for questions about images.
  const priced = all.filter((m) => !isVariablePrice(m.pricing) && (m.outputModalities ?? ['text']).includes('text') && !(m.outputModalities ?? []).includes('image'));
  const cost = (m: ModelInfo) => m.pricing.prompt + m.pricing.completion;
  return priced.sort((a, b) => cost(a) - cost(b) || a.id.localeCompare(b.id)).slice(0, limit);
}

/** The refusal for an image sent to a model that cannot see it. */
export async function noVisionError(catalog: Pick<ModelCatalog, 'search'>, model: string): Promise<UserFacingError> {
  const suggestions = await visionModels(catalog).catch(() => []);
  const lines = [`\`${model}\` cannot see images, so nothing was sent to it.`];
  if (suggestions.length > 0) {
    lines.push('Models that can:', ...suggestions.map((m) => `• \`${m.id}\` · ${formatPrices(m)}`));
  }
  lines.push('Ask with one of them as `model` (where this channel lets you pick), or an admin can set `/model option vision-model <id>` to answer image questions here.');
  return new UserFacingError('not-allowed', lines.join('\n'));
}

/** The fallbacks that can see images (unknown ones stay, for OpenRouter to judge): a text-only fallback would fail the request. */
export async function visionFallbacks(catalog: Pick<ModelCatalog, 'get'>, fallbacks: readonly string[]): Promise<string[]> {
  const kept: string[] = [];
  for (const id of fallbacks) if (seesImages(await catalog.get(id))) kept.push(id);
  return kept;
}

/** Earlier images for a model that cannot see them: a note in their place, so the question still goes. */
export function withoutImages(parts: readonly MessagePart[]): MessagePart[] {
  return parts.map((part) => (part.type === 'image' ? { type: 'text', text: `[image ${part.name}: not shown, this model cannot see images]` } : part));
}
