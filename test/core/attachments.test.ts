/** The core's attachment rules, the request shape they produce, and what the reservation holds for them. */
import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { checkAttachments, inlineFile, kindOf, pdfPages, sniffImage, type InboundAttachment } from '../../src/core/attachments.ts';
import { UserFacingError } from '../../src/core/errors.ts';
import { attachmentsWorstCaseUsd } from '../../src/llm/pricing.ts';
import { commonBody, toOpenAiMessages } from '../../src/llm/to-openai-request.ts';
import type { ChatMessage } from '../../src/llm/types.ts';
import { smallPng, tinyPdf, withVisionModels } from '../helpers/attachment-files.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const file = (name: string, data: Buffer, mime?: string): InboundAttachment => ({
  id: `mem:${name}`,
  name,
  ...(mime ? { mime } : {}),
  size: data.length,
  fetch: async () => data,
});

describe('attachment rules', () => {
  it('tells kinds by type, or by extension when the type is missing or generic', () => {
    expect(kindOf({ name: 'a.PNG' })).toBe('image');
    expect(kindOf({ name: 'x', mime: 'image/webp' })).toBe('image');
    expect(kindOf({ name: 'scan.pdf', mime: 'application/octet-stream' })).toBe('pdf');
    expect(kindOf({ name: 'main.rs', mime: '' })).toBe('text');
    expect(kindOf({ name: 'data', mime: 'application/json; charset=utf-8' })).toBe('text');
    expect(kindOf({ name: 'v.svg', mime: 'image/svg+xml' })).toBe('text');
    expect(kindOf({ name: 'song.mp3', mime: 'audio/mpeg' })).toBe('unknown');
    expect(kindOf({ name: 'archive.zip' })).toBe('unknown');
  });

  it('counts PDF pages, sniffs images, and fences inlined files longer than any fence inside them', async () => {
    expect(pdfPages(tinyPdf(3))).toBe(3);
    expect(pdfPages(Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(50 * 1024)]))).toBe(3);
    // PDF 1.5+ keeps page objects in compressed object streams: they are counted there, not estimated from the size.
    const objects = deflateSync(Buffer.from('3 0 4 40 << /Type /Page /Parent 2 0 R >> << /Type /Page /Parent 2 0 R >> << /Type /Pages /Count 2 >>'));
    const modern = Buffer.concat([
      Buffer.from(`%PDF-1.7\n5 0 obj << /Type /ObjStm /N 3 /First 8 /Filter /FlateDecode /Length ${objects.length} >>\nstream\n`),
      objects,
      Buffer.from('\nendstream\nendobj\n'),
      Buffer.alloc(200 * 1024),
    ]);
    expect(pdfPages(modern)).toBe(2);
    expect(sniffImage(await smallPng())).toBe('image/png');
    expect(sniffImage(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(sniffImage(Buffer.from('not an image'))).toBeUndefined();
    expect(inlineFile('README.md', 'a\n```js\nx\n```')).toBe('File README.md:\n````\na\n```js\nx\n```\n````');
  });

  it('refuses a ninth file and files over their limits before downloading anything', () => {
    const nine = Array.from({ length: 9 }, (_, i) => file(`f${i}.txt`, Buffer.from('x')));
    expect(() => checkAttachments(nine)).toThrow(/You attached 9 files; I take at most 8 per message/);
    const big = { ...file('huge.pdf', Buffer.alloc(1)), size: 21 * 1024 * 1024, fetch: () => Promise.reject(new Error('must not download')) };
    expect(() => checkAttachments([big])).toThrow(UserFacingError);
    expect(() => checkAttachments([big])).toThrow(/`huge\.pdf`: 21\.0 MB is over the 20\.0 MB limit for PDFs/);
  });

  it('turns parts into OpenRouter content parts, annotations onto the assistant message, and adds the file-parser plugin for PDFs', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'read' }, { type: 'file', url: 'data:application/pdf;base64,JVBERi0=', name: 'a.pdf', bytes: 5, pages: 1 }] },
      { role: 'assistant', content: 'done', annotations: [{ type: 'file', file: { hash: 'h' } }] },
      { role: 'user', content: [{ type: 'text', text: 'and' }, { type: 'image', url: 'https://cdn.example/x.png', name: 'x.png', bytes: 9 }] },
    ];
    expect(toOpenAiMessages(messages)).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'read' }, { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } }] },
      { role: 'assistant', content: 'done', annotations: [{ type: 'file', file: { hash: 'h' } }] },
      { role: 'user', content: [{ type: 'text', text: 'and' }, { type: 'image_url', image_url: { url: 'https://cdn.example/x.png' } }] },
    ]);
    expect(commonBody({ model: 'm', messages, pdfEngine: 'cloudflare-ai' }).plugins).toEqual([{ id: 'file-parser', pdf: { engine: 'cloudflare-ai' } }]);
    expect(commonBody({ model: 'm', messages, pdfEngine: 'default' }).plugins).toEqual([{ id: 'file-parser' }]);
    expect(commonBody({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).plugins).toBeUndefined();
    // Images at the model's per-image price, PDF pages at the engine's (default counts as mistral-ocr, $2 per 1,000 pages).
    expect(attachmentsWorstCaseUsd(messages, 0.003613, 'default')).toBeCloseTo(0.003613 + 0.002, 12);
    expect(attachmentsWorstCaseUsd(messages, 0, 'cloudflare-ai')).toBe(0);
  });
});

describe('attachments and quotas', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('reserves for images (tokens and the per-image price): a question with three images is refused under a limit a plain one fits', async () => {
    app = await startTestApp({ env: { DEFAULT_MODEL: 'openai/gpt-4o' } });
    await withVisionModels(app.openrouter, app.core.catalog);
    await app.core.store.setQuotaLimit('test', 'w1', { kind: 'user', userId: 'u1' }, 'usd-per-day', 0.05);
    const h = createHarness(app.core);
    const ada = { id: 'u1', name: 'Ada' };
    const png = await smallPng();
    await h.run(ada, 'ask', undefined, { prompt: 'plain question' });
    expect(app.openrouter.chatRequests()).toHaveLength(1);
    const images = ['a.png', 'b.png', 'c.png'].map((name) => file(name, png, 'image/png'));
    await h.run(ada, 'ask', undefined, { prompt: 'compare these' }, { attachments: images });
    expect(h.lastReply()).toMatch(/limit/i);
    expect(app.openrouter.chatRequests()).toHaveLength(1);
    await h.run(ada, 'ask', undefined, { prompt: 'just this one' }, { attachments: images.slice(0, 1) });
    expect(app.openrouter.chatRequests()).toHaveLength(2);
    const ledger = await app.core.store.ledger({});
    expect(ledger.map((r) => [r.outcome, r.attachments ?? 0])).toEqual([['ok', 0], ['refused', 0], ['ok', 1]]);
  });

  it('leaves text-only fallbacks out of a request with an image, and keeps vision ones', async () => {
    app = await startTestApp({ env: { DEFAULT_MODEL: 'openai/gpt-4o' } });
    await withVisionModels(app.openrouter, app.core.catalog);
    const h = createHarness(app.core);
    await h.run({ id: 'u9', name: 'Grace', admin: true }, 'model', 'fallbacks', { models: 'openai/gpt-4o-mini google/gemini-2.5-flash' });
    await h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'see?' }, { attachments: [file('a.png', await smallPng(), 'image/png')] });
    expect(app.openrouter.chatRequests().at(-1)!.body!.models).toEqual(['openai/gpt-4o', 'google/gemini-2.5-flash']);
    await h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'plain' });
    expect(app.openrouter.chatRequests().at(-1)!.body!.models).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini', 'google/gemini-2.5-flash']);
  });
});
