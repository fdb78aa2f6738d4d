/**
 * Shrinks an image that is over a byte limit, keeping it legible: the longest
 * side goes down to at most `maxSide` pixels (never up) and the result is a
 * JPEG (photos, screenshots with text both stay readable at quality 85), or a
 * PNG when the image has transparency that JPEG would flatten to black.
 */
import sharp, { type Metadata } from 'sharp';

export interface DownscaledImage {
  data: Buffer;
  mime: 'image/jpeg' | 'image/png';
  width: number;
  height: number;
}

/** Longest side first tried, then smaller ones until the image fits. */
const SIDES = [2048, 1600, 1280];

/** Undefined when even the smallest size does not fit in `maxBytes` or the bytes are not an image sharp reads. */
export async function downscaleImage(input: Buffer, maxBytes: number): Promise<DownscaledImage | undefined> {
  let meta: Metadata;
  try {
    meta = await sharp(input, { animated: false }).metadata();
  } catch {
    return undefined;
  }
  const alpha = meta.hasAlpha === true;
  for (const side of SIDES) {
    const pipeline = sharp(input, { animated: false }).rotate().resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true });
    const { data, info } = alpha
      ? await pipeline.png({ compressionLevel: 9, palette: true }).toBuffer({ resolveWithObject: true })
      : await pipeline.jpeg({ quality: 85 }).toBuffer({ resolveWithObject: true });
    if (data.length <= maxBytes) return { data, mime: alpha ? 'image/png' : 'image/jpeg', width: info.width, height: info.height };
  }
  return undefined;
}
