/**
 * What the fake OpenRouter checks and answers for content parts (images and
 * PDFs), as OpenRouter documents them: `image_url` parts carry a URL or an
 * image data URL, `file` parts a filename and a PDF data URL or URL, the
 * file-parser plugin names a known engine; a PDF is parsed once and its
 * `file` annotation (hash, name, parsed content) comes back on the answer, and
 * a follow-up that sends that annotation back is not parsed again.
 */
import { createHash } from 'node:crypto';
import type { ChatBody, ModelEntry } from './openrouter.ts';

const IMAGE_DATA_URL = /^data:image\/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/]+=*$/;
const PDF_DATA_URL = /^data:application\/pdf;base64,[A-Za-z0-9+/]+=*$/;
const HTTP_URL = /^https?:\/\/\S+$/;
const ENGINES = ['native', 'cloudflare-ai', 'mistral-ocr', 'pdf-text'];

type Part = { type?: unknown; text?: unknown; image_url?: { url?: unknown; detail?: unknown }; file?: { filename?: unknown; file_data?: unknown } };

/** The content parts of every user message (a string content has none). */
export function contentParts(body: ChatBody): Part[] {
  return body.messages.flatMap((m) => {
    const content: unknown = m.content;
    return m.role === 'user' && Array.isArray(content) ? (content as Part[]) : [];
  });
}

/** The text of a message's content, string or parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Part[]).flatMap((p) => (p.type === 'text' && typeof p.text === 'string' ? [p.text] : [])).join('\n');
}

/** Why OpenRouter would answer 400 to these parts, or undefined when they are well formed. */
export function contentProblem(body: ChatBody): string | undefined {
  for (const part of contentParts(body)) {
    if (part.type === 'text') {
      if (typeof part.text !== 'string') return 'text part without text';
    } else if (part.type === 'image_url') {
      const url = part.image_url?.url;
      if (typeof url !== 'string' || !(IMAGE_DATA_URL.test(url) || HTTP_URL.test(url))) return 'image_url.url must be a URL or a base64 image data URL (png, jpeg, webp, gif)';
      if (part.image_url?.detail !== undefined && !['auto', 'low', 'high'].includes(part.image_url.detail as string)) return 'image_url.detail must be auto, low or high';
    } else if (part.type === 'file') {
      if (typeof part.file?.filename !== 'string' || part.file.filename === '') return 'file.filename is required';
      const data = part.file.file_data;
      if (typeof data !== 'string' || !(PDF_DATA_URL.test(data) || HTTP_URL.test(data))) return 'file.file_data must be a URL or a base64 PDF data URL';
    } else {
      return `unknown content part type ${JSON.stringify(part.type)}`;
    }
  }
  for (const plugin of body.plugins ?? []) {
    if (plugin.id !== 'file-parser') continue;
    const engine = (plugin.pdf as { engine?: unknown } | undefined)?.engine;
    if (plugin.pdf !== undefined && !ENGINES.includes(String(engine))) return `unknown PDF engine ${JSON.stringify(engine)}`;
  }
  return undefined;
}

/** An image sent to a model whose inputs have no `image`: OpenRouter finds no endpoint. */
export function imagesUnsupported(body: ChatBody, models: readonly ModelEntry[]): boolean {
  if (!contentParts(body).some((p) => p.type === 'image_url')) return false;
  const entry = models.find((m) => m.id === body.model);
  return entry?.architecture !== undefined && !entry.architecture.input_modalities.includes('image');
}

export function fileHash(fileData: string): string {
  return createHash('sha256').update(fileData).digest('hex');
}

/** Hashes of files whose annotations the conversation sends back (already parsed). */
function annotatedHashes(body: ChatBody): Set<string> {
  const hashes = new Set<string>();
  for (const m of body.messages) {
    const annotations = (m as { annotations?: unknown }).annotations;
    if (m.role !== 'assistant' || !Array.isArray(annotations)) continue;
    for (const a of annotations as Array<{ type?: string; file?: { hash?: string } }>) if (a.type === 'file' && a.file?.hash) hashes.add(a.file.hash);
  }
  return hashes;
}

/** The `file` annotations of the PDFs this request makes OpenRouter parse (none for those annotated before). */
export function fileAnnotations(body: ChatBody): unknown[] {
  const seen = annotatedHashes(body);
  const out: unknown[] = [];
  for (const part of contentParts(body)) {
    if (part.type !== 'file' || typeof part.file?.file_data !== 'string') continue;
    const hash = fileHash(part.file.file_data);
    if (seen.has(hash)) continue;
    seen.add(hash);
    const name = String(part.file.filename);
    out.push({ type: 'file', file: { hash, name, content: [{ type: 'text', text: `Parsed text of ${name}` }] } });
  }
  return out;
}
