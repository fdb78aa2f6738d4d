/**
 * The rules for answers that may carry pictures: which models draw, what
 * `/image` answers with, and what a picture adds to the reservation.
 */
import type { WorstCasePrice } from '../llm/pricing.ts';
import type { ModelInfo } from '../llm/types.ts';
import { UserFacingError } from './errors.ts';
import type { ChannelSettings } from './settings.ts';

/** Whether the catalog says the model answers with pictures (`architecture.output_modalities` has `image`). */
export function hasImageOutput(info: ModelInfo | undefined): boolean {
  return info?.outputModalities?.includes('image') === true;
}

/** What `/image` says where no image model is set. */
export const NO_IMAGE_MODEL =
  'No image model is set here, so `/image` is off. An admin can turn it on with `/model option image-model <id>` (a model whose catalog entry lists image output, e.g. `google/gemini-2.5-flash-image`).';

/**
 * The settings a picture is drawn with: the channel's image model, alone (no
 * fallbacks, which may not draw), without tools or web search. Refuses when
 * no image model is set.
 */
export function imageSettings(settings: ChannelSettings): ChannelSettings {
  if (settings.imageModel === null) throw new UserFacingError('bad-input', NO_IMAGE_MODEL);
  return { ...settings, model: settings.imageModel, fallbackModels: [], tools: [], reasoningEffort: null };
}

/** Refuses a model that cannot draw, naming it (a model the catalog does not know cannot be checked, and is refused too). */
export function requireImageOutput(model: string, info: ModelInfo | undefined): void {
  if (hasImageOutput(info)) return;
  const why = info ? 'its catalog entry lists no image output' : 'the model catalog does not know it, so it cannot be checked';
  throw new UserFacingError('bad-input', `\`${model.slice(0, 100)}\` does not make pictures (${why}). Pick a model with image output, e.g. \`google/gemini-2.5-flash-image\`.`);
}

/**
 * A request that may return a picture reserves the model's per-image price
 * (catalog `pricing.image`) on top of the per-request price, beside the
 * output price its max_tokens already covers (image tokens are output tokens).
 */
export function withImagePrice(price: WorstCasePrice, imageInfo: ModelInfo | undefined): WorstCasePrice {
  const image = imageInfo?.pricing.image ?? 0;
  if (!price.known || image <= 0) return price;
  return { known: true, pricing: { ...price.pricing, request: price.pricing.request + image } };
}

/**
 * Output tokens a request that may draw gets at least: a picture is output
 * tokens too (Gemini counts about 1,290 per image), so the usual text budget
 * (DEFAULT_MAX_TOKENS 1024) would cut it off. The model's own maximum still
 * caps it, and the reservation covers it.
 */
export const IMAGE_MIN_MAX_TOKENS = 4096;

export function withRoomForPictures(maxTokens: number): number {
  return Math.max(maxTokens, IMAGE_MIN_MAX_TOKENS);
}

/** Shown when a picture was asked for and none came back. */
export const NO_PICTURE_NOTE = '_(the model returned no picture)_';
