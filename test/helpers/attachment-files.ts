/** Files for attachment tests: real PNGs (made with sharp), a minimal PDF, text, and vision models for the fake catalog. */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { modelEntry, type FakeOpenRouter, type ModelEntry } from '../fakes/openrouter.ts';

export async function smallPng(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } }).png().toBuffer();
}

/** A PNG of random pixels (incompressible), `side` pixels square: 1,400 gives about 5.9 MB. */
export async function noisePng(side = 1400): Promise<Buffer> {
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

/** A one-page PDF (what the page count and the `%PDF-` check read). */
export function tinyPdf(pages = 1): Buffer {
  const kids = Array.from({ length: pages }, (_, i) => `${3 + i} 0 R`).join(' ');
  const pageObjects = Array.from({ length: pages }, (_, i) => `${3 + i} 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj`);
  return Buffer.from(['%PDF-1.4', '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj', `2 0 obj << /Type /Pages /Kids [${kids}] /Count ${pages} >> endobj`, ...pageObjects, 'trailer << /Root 1 0 R >>', '%%EOF', ''].join('\n'), 'latin1');
}

const VISION = { input_modalities: ['text', 'image'], output_modalities: ['text'], tokenizer: 'Other' };

/** Vision models added to the fake catalog (cheapest first), with a per-image price on the first. */
export function visionModels(): ModelEntry[] {
  return [
    modelEntry('openai/gpt-4o', { name: 'OpenAI: GPT-4o', pricing: { prompt: '0.0000025', completion: '0.00001', request: '0', image: '0.003613' }, architecture: VISION }),
    modelEntry('google/gemini-2.5-flash', { name: 'Google: Gemini 2.5 Flash', pricing: { prompt: '0.0000003', completion: '0.0000025', request: '0', image: '0.001238' }, architecture: VISION }),
    modelEntry('qwen/qwen2.5-vl-7b', { name: 'Qwen2.5 VL 7B', pricing: { prompt: '0.0000002', completion: '0.0000002', request: '0', image: '0' }, architecture: VISION }),
    modelEntry('anthropic/claude-sonnet-4', { name: 'Anthropic: Claude Sonnet 4', pricing: { prompt: '0.000003', completion: '0.000015', request: '0', image: '0.0048' }, architecture: VISION }),
  ];
}

/** Adds the vision models to a (just reset) fake OpenRouter and reloads the app's catalog. */
export async function withVisionModels(openrouter: FakeOpenRouter, catalog: { refresh(): Promise<void> }): Promise<void> {
  openrouter.models = [...openrouter.models.filter((m) => !visionModels().some((v) => v.id === m.id)), ...visionModels()];
  await catalog.refresh();
}

/** The content parts of the last chat request's last user message. */
export function lastUserParts(openrouter: FakeOpenRouter): Array<Record<string, unknown>> {
  const messages = openrouter.chatRequests().at(-1)!.body!.messages;
  const content: unknown = messages.filter((m) => m.role === 'user').at(-1)!.content;
  return Array.isArray(content) ? (content as Array<Record<string, unknown>>) : [{ type: 'text', text: content }];
}
