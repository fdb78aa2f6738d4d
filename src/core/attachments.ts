/**
 * Attachments in: what a person attached to a message (Discord, Slack, the
 * terminal's /attach) becomes image, PDF or text parts of the question, or a
 * clear refusal. Adapters only describe each file and say how to download it;
 * the limits, the type checks, downscaling and the cache live here, once.
 * Nothing is dropped silently: a message with a file that cannot be used is
 * refused as a whole, naming the file and why, before anything is sent or
 * charged.
 */
import { inflateSync } from 'node:zlib';
import type { MessagePart } from '../llm/types.ts';
import { downscaleImage } from '../util/downscale-image.ts';
import { cleanPrompt } from './conversation.ts';
import { UserFacingError } from './errors.ts';

const KB = 1024;
const MB = 1024 * KB;

/** The limits, per message and per kind (README "Attachments"). */
export const ATTACHMENT_LIMITS = {
  /** Files per message. */
  perMessage: 8,
  /** An image is sent as it is up to this size; a bigger one is downscaled below it. */
  imageBytes: 5 * MB,
  /** Images bigger than this are not downloaded at all. */
  imageDownloadBytes: 25 * MB,
  pdfBytes: 20 * MB,
  /** UTF-8 text and code files, inlined with their name. */
  textBytes: 200 * KB,
} as const;

/** Resolved files kept for history (re-reading a thread does not download them again). */
const CACHE_BYTES = 64 * MB;

/** One file as the platform describes it. */
export interface InboundAttachment {
  /** Stable id (platform file id, or path and mtime): the cache key. */
  id: string;
  name: string;
  /** What the platform says the type is; may be missing. */
  mime?: string;
  /** Size in bytes as the platform says (0 when not known). */
  size: number;
  /**
   * A URL OpenRouter can fetch itself (Discord's CDN): an image within the
   * limit is passed as this URL instead of being downloaded here.
   */
  publicUrl?: string;
  /** Downloads the file; may stop reading after `maxBytes` + 1 bytes (then the file counts as too big). */
  fetch(maxBytes: number): Promise<Buffer>;
}

export type AttachmentKind = 'image' | 'pdf' | 'text' | 'unknown';

const IMAGE_MIMES: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/jpg': 'jpeg', 'image/webp': 'webp', 'image/gif': 'gif' };
const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'webp', 'gif']);
const TEXT_MIMES = /^(text\/[\w.+-]+|application\/(json|xml|javascript|x-javascript|typescript|x-typescript|x-yaml|yaml|toml|x-sh|x-shellscript|sql|x-sql|x-httpd-php|x-python|x-ruby|ld\+json|x-ndjson|csv)|[\w.+-]+\/[\w.-]+\+(json|xml))$/;
const TEXT_EXTENSIONS = new Set(
  (
    'txt md markdown rst log csv tsv json jsonl ndjson yaml yml toml ini cfg conf env xml html htm css scss less svg ' +
    'js mjs cjs jsx ts tsx mts cts py rb php java kt kts scala go rs c h cc cpp hpp cs fs swift m mm lua pl r jl dart ' +
    'sh bash zsh fish ps1 bat sql graphql gql proto tf hcl vue svelte diff patch gradle properties dockerfile makefile'
  ).split(' '),
);

function extensionOf(name: string): string {
  const base = name.toLowerCase().split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot === -1 ? base : base.slice(dot + 1);
}

/** What a file is, from its type and name (the bytes are checked once downloaded). */
export function kindOf(attachment: Pick<InboundAttachment, 'name' | 'mime'>): AttachmentKind {
  const mime = (attachment.mime ?? '').toLowerCase().split(';')[0]!.trim();
  const ext = extensionOf(attachment.name);
  if (mime in IMAGE_MIMES || (mime === '' && IMAGE_EXTENSIONS.has(ext))) return 'image';
  if (mime === 'application/pdf' || ((mime === '' || mime === 'application/octet-stream') && ext === 'pdf')) return 'pdf';
  if (TEXT_MIMES.test(mime) || ((mime === '' || mime === 'application/octet-stream') && TEXT_EXTENSIONS.has(ext))) return 'text';
  return 'unknown';
}

/** "3.2 MB", "180 KB". */
export function formatBytes(bytes: number): string {
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / KB))} KB`;
}

const SUPPORTED = 'images (PNG, JPEG, WebP, GIF), PDFs, and UTF-8 text or code files';

/** A file that cannot be used and why, in words for the person who sent it. */
interface Problem {
  name: string;
  reason: string;
}

function refuse(problems: readonly Problem[], total: number): never {
  const lines = problems.map((p) => `• \`${oneLineName(p.name)}\`: ${p.reason}`);
  const head = total === 1 ? 'I could not use your attachment:' : `I could not use ${problems.length} of your ${total} attachments:`;
  throw new UserFacingError('bad-input', [head, ...lines, 'Nothing was sent to the model. Fix or leave out these files and ask again.'].join('\n'));
}

function oneLineName(name: string): string {
  const flat = name.replace(/[`\s]+/g, ' ').trim() || 'unnamed file';
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}

/**
 * The cheap checks, before anything is downloaded: how many files, which
 * kinds, and sizes the platform already told. Throws a UserFacingError.
 */
export function checkAttachments(attachments: readonly InboundAttachment[]): AttachmentKind[] {
  if (attachments.length > ATTACHMENT_LIMITS.perMessage) {
    throw new UserFacingError(
      'bad-input',
      `You attached ${attachments.length} files; I take at most ${ATTACHMENT_LIMITS.perMessage} per message. Nothing was sent to the model: send them over two messages.`,
    );
  }
  const kinds = attachments.map(kindOf);
  const problems: Problem[] = [];
  attachments.forEach((a, i) => {
    const kind = kinds[i]!;
    if (kind === 'unknown') {
      problems.push({ name: a.name, reason: `its type (${a.mime && a.mime !== '' ? a.mime : `.${extensionOf(a.name) || 'no extension'}`}) is not one I read; I take ${SUPPORTED}.` });
      return;
    }
    const tooBig = tooBigReason(kind, a.size);
    if (tooBig) problems.push({ name: a.name, reason: tooBig });
  });
  if (problems.length > 0) refuse(problems, attachments.length);
  return kinds;
}

function tooBigReason(kind: AttachmentKind, size: number): string | undefined {
  if (kind === 'image' && size > ATTACHMENT_LIMITS.imageDownloadBytes) {
    return `${formatBytes(size)} is over the ${formatBytes(ATTACHMENT_LIMITS.imageDownloadBytes)} limit for images.`;
  }
  if (kind === 'pdf' && size > ATTACHMENT_LIMITS.pdfBytes) return `${formatBytes(size)} is over the ${formatBytes(ATTACHMENT_LIMITS.pdfBytes)} limit for PDFs.`;
  if (kind === 'text' && size > ATTACHMENT_LIMITS.textBytes) {
    return `${formatBytes(size)} is over the ${formatBytes(ATTACHMENT_LIMITS.textBytes)} limit for text files; paste the part that matters, or attach it as a PDF.`;
  }
  return undefined;
}

/** Downloads and checks every file; the parts come back in the order of the files. Throws a UserFacingError naming each file that failed. */
export class AttachmentResolver {
  readonly #cache = new Map<string, { part: MessagePart; bytes: number }>();
  #cachedBytes = 0;

  async resolve(attachments: readonly InboundAttachment[]): Promise<MessagePart[]> {
    const kinds = checkAttachments(attachments);
    const results = await Promise.all(attachments.map((a, i) => this.#one(a, kinds[i]!).catch((error: unknown) => problemOf(a, error))));
    const problems = results.filter((r): r is Problem => 'reason' in r);
    if (problems.length > 0) refuse(problems, attachments.length);
    return results as MessagePart[];
  }

  /**
   * History: files of earlier messages, again. A file that cannot be read any
   * more (deleted, expired) becomes a note saying so instead of failing the answer.
   */
  async resolveEarlier(attachments: readonly InboundAttachment[]): Promise<MessagePart[]> {
    return Promise.all(
      attachments.map(async (a) => {
        const kind = kindOf(a);
        const problem = kind === 'unknown' ? `not a type I read` : tooBigReason(kind, a.size);
        if (problem) return note(a.name, problem);
        try {
          const part = await this.#one(a, kind);
          return 'reason' in part ? note(a.name, part.reason) : part;
        } catch (error) {
          return note(a.name, problemOf(a, error).reason);
        }
      }),
    );
  }

  async #one(a: InboundAttachment, kind: AttachmentKind): Promise<MessagePart | Problem> {
    // Discord's CDN: OpenRouter fetches an image within the limit itself (see README, "URL or download").
    if (kind === 'image' && a.publicUrl && a.size > 0 && a.size <= ATTACHMENT_LIMITS.imageBytes) {
      return { type: 'image', url: a.publicUrl, name: a.name, bytes: a.size };
    }
    const cached = this.#cache.get(a.id);
    if (cached) {
      this.#cache.delete(a.id);
      this.#cache.set(a.id, cached);
      return cached.part;
    }
    const part = await resolveDownloaded(a, kind);
    if ('reason' in part) return part;
    this.#remember(a.id, part);
    return part;
  }

  #remember(id: string, part: MessagePart): void {
    const bytes = part.type === 'text' ? part.text.length * 2 : part.url.length;
    if (bytes > CACHE_BYTES / 4) return;
    this.#cache.set(id, { part, bytes });
    this.#cachedBytes += bytes;
    for (const [key, entry] of this.#cache) {
      if (this.#cachedBytes <= CACHE_BYTES) break;
      this.#cache.delete(key);
      this.#cachedBytes -= entry.bytes;
    }
  }
}

function note(name: string, why: string): MessagePart {
  return { type: 'text', text: `[attachment ${oneLineName(name)}: ${why}]` };
}

function problemOf(a: InboundAttachment, error: unknown): Problem {
  if (error instanceof UserFacingError) return { name: a.name, reason: error.message };
  const detail = error instanceof Error ? error.message : String(error);
  return { name: a.name, reason: `it could not be downloaded (${detail.slice(0, 120)}).` };
}

async function resolveDownloaded(a: InboundAttachment, kind: AttachmentKind): Promise<MessagePart | Problem> {
  const limit = kind === 'image' ? ATTACHMENT_LIMITS.imageDownloadBytes : kind === 'pdf' ? ATTACHMENT_LIMITS.pdfBytes : ATTACHMENT_LIMITS.textBytes;
  const data = await a.fetch(limit);
  if (data.length > limit) return { name: a.name, reason: tooBigReason(kind, data.length) ?? 'it is too big.' };
  if (kind === 'image') return imagePart(a.name, data);
  if (kind === 'pdf') return pdfPart(a.name, data);
  return textPart(a.name, data);
}

/** The image's real type from its first bytes; undefined when it is none of the four. */
export function sniffImage(data: Buffer): string | undefined {
  if (data.length >= 8 && data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.length >= 6 && (data.subarray(0, 6).toString('latin1') === 'GIF87a' || data.subarray(0, 6).toString('latin1') === 'GIF89a')) return 'image/gif';
  if (data.length >= 12 && data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

async function imagePart(name: string, data: Buffer): Promise<MessagePart | Problem> {
  const mime = sniffImage(data);
  if (!mime) return { name, reason: 'it is not a PNG, JPEG, WebP or GIF image (its content says otherwise).' };
  if (data.length <= ATTACHMENT_LIMITS.imageBytes) return { type: 'image', url: dataUrl(mime, data), name, bytes: data.length };
  const smaller = await downscaleImage(data, ATTACHMENT_LIMITS.imageBytes);
  if (!smaller) return { name, reason: `${formatBytes(data.length)} is over the ${formatBytes(ATTACHMENT_LIMITS.imageBytes)} limit and could not be made smaller legibly.` };
  return { type: 'image', url: dataUrl(smaller.mime, smaller.data), name, bytes: smaller.data.length };
}

function pdfPart(name: string, data: Buffer): MessagePart | Problem {
  if (data.subarray(0, 5).toString('latin1') !== '%PDF-') return { name, reason: 'it is not a PDF (its content does not start like one).' };
  return { type: 'file', url: dataUrl('application/pdf', data), name, bytes: data.length, pages: pdfPages(data) };
}

/** Inflated bytes read from object streams at most (page objects sit in the first ones). */
const OBJECT_STREAM_BUDGET = 8 * 1024 * 1024;

/**
 * Pages of a PDF, for the reservation: page objects counted in the file and
 * in its compressed object streams (PDF 1.5 and later keep them there), or,
 * when none can be read, an estimate from the size that errs high (20 KB a page).
 */
export function pdfPages(data: Buffer): number {
  const text = data.toString('latin1');
  let counted = countPageObjects(text);
  let budget = OBJECT_STREAM_BUDGET;
  for (const match of text.matchAll(/\/Type\s*\/ObjStm\b[^]*?stream\r?\n/g)) {
    if (budget <= 0) break;
    const start = match.index + match[0].length;
    const end = text.indexOf('endstream', start);
    if (end === -1) break;
    try {
      const inflated = inflateSync(data.subarray(start, end), { maxOutputLength: budget });
      budget -= inflated.length;
      counted += countPageObjects(inflated.toString('latin1'));
    } catch {
      // Not Flate, damaged, or over the budget: the size estimate covers it.
    }
  }
  return counted > 0 ? counted : Math.max(1, Math.ceil(data.length / (20 * 1024)));
}

function countPageObjects(text: string): number {
  return text.match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function textPart(name: string, data: Buffer): MessagePart | Problem {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { name, reason: 'it is not UTF-8 text.' };
  }
  if (text.includes('\u0000')) return { name, reason: 'it holds binary data, not text.' };
  return { type: 'text', text: inlineFile(name, cleanPrompt(text.replace(/^\uFEFF/, ''))) };
}

/** A text file as the model reads it: its name, then its content in a fence longer than any inside it. */
export function inlineFile(name: string, content: string): string {
  const longest = Math.max(2, ...[...content.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `File ${oneLineName(name)}:\n${fence}\n${content}\n${fence}`;
}

function dataUrl(mime: string, data: Buffer): string {
  return `data:${mime};base64,${data.toString('base64')}`;
}
