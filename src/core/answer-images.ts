/**
 * Pictures an answer carries: the data URLs a model returned (OpenRouter's
 * `images`), checked and decoded once here, so each platform receives bytes
 * it can upload as they are. Bad data never crashes an answer: each picture
 * that cannot be used becomes a short note saying why.
 */

/** A picture ready to upload. */
export interface AnswerImage {
  /** e.g. `image-1.png` (unique within the answer). */
  filename: string;
  mime: ImageMime;
  data: Uint8Array;
}

/** An answer's pictures and what became of those that could not be used. */
export interface AnswerImages {
  files: AnswerImage[];
  /** One short note per picture (or group) that was left out, for the people reading the answer. */
  problems: string[];
}

export type ImageMime = 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif';

/** Largest decoded picture kept (8 MiB): under Discord's 10 MB per file for unboosted servers, far under Slack's. */
export const IMAGE_MAX_BYTES = 8 * 1024 * 1024;

/** Most pictures one answer carries: Discord takes 10 files per message. */
export const MAX_ANSWER_IMAGES = 10;

const EXTENSIONS: Record<ImageMime, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

const DATA_URL_HEAD = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)((?:;[a-z0-9-]+=[^;,]*)*);base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether the bytes start the way files of this type do (so a PNG label on other data is caught). */
function hasSignature(mime: ImageMime, data: Uint8Array): boolean {
  const starts = (...bytes: number[]) => bytes.every((b, i) => data[i] === b);
  switch (mime) {
    case 'image/png':
      return starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
    case 'image/jpeg':
      return starts(0xff, 0xd8, 0xff);
    case 'image/gif':
      return starts(0x47, 0x49, 0x46, 0x38);
    case 'image/webp':
      return starts(0x52, 0x49, 0x46, 0x46) && data[8] === 0x57 && data[9] === 0x45 && data[10] === 0x42 && data[11] === 0x50;
  }
}

function isImageMime(mime: string): mime is ImageMime {
  return mime in EXTENSIONS;
}

function formatMb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** One data URL as a picture, or why it cannot be one. */
export function decodeImageDataUrl(url: string, maxBytes = IMAGE_MAX_BYTES): { ok: true; mime: ImageMime; data: Buffer } | { ok: false; problem: string } {
  const head = DATA_URL_HEAD.exec(url.slice(0, 300));
  if (!head) {
    return { ok: false, problem: /^https?:\/\//i.test(url) ? 'it came as a link, not as data' : 'it is not a base64 data URL' };
  }
  const mime = head[1]!.toLowerCase();
  if (!isImageMime(mime)) return { ok: false, problem: `its type ${mime.slice(0, 40)} is not PNG, JPEG, WebP or GIF` };
  const payload = url.slice(head[0].length).replace(/\s+/g, '');
  const estimated = Math.floor((payload.length * 3) / 4);
  if (estimated > maxBytes) return { ok: false, problem: `it is ${formatMb(estimated)}, over the ${formatMb(maxBytes)} limit` };
  if (payload.length === 0 || payload.length % 4 === 1 || !BASE64.test(payload)) return { ok: false, problem: 'its data is not valid base64' };
  const data = Buffer.from(payload, 'base64');
  if (!hasSignature(mime, data)) return { ok: false, problem: `its data is not a ${EXTENSIONS[mime].toUpperCase()} file` };
  return { ok: true, mime, data };
}

/**
 * The pictures of an answer, in the order the model sent them: at most
 * MAX_ANSWER_IMAGES, each checked (data URL, type, base64, size, file
 * signature). Every picture left out is named in `problems`.
 */
export function decodeAnswerImages(urls: readonly string[], maxBytes = IMAGE_MAX_BYTES): AnswerImages {
  const out: AnswerImages = { files: [], problems: [] };
  const kept = urls.slice(0, MAX_ANSWER_IMAGES);
  kept.forEach((url, i) => {
    const decoded = decodeImageDataUrl(url, maxBytes);
    const n = i + 1;
    if (!decoded.ok) {
      out.problems.push(`Picture ${n} from the model could not be shown: ${decoded.problem}.`);
      return;
    }
    out.files.push({ filename: `image-${n}.${EXTENSIONS[decoded.mime]}`, mime: decoded.mime, data: decoded.data });
  });
  const dropped = urls.length - kept.length;
  if (dropped > 0) out.problems.push(`The model returned ${urls.length} pictures; only the first ${MAX_ANSWER_IMAGES} are shown.`);
  return out;
}

/** The notes about pictures left out, one line each; '' when there are none. */
export function formatImageProblems(images: AnswerImages | undefined): string {
  return images && images.problems.length > 0 ? images.problems.map((p) => `⚠️ ${p}`).join('\n') : '';
}
