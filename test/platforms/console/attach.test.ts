/** `/attach <path>` in the terminal chat: local files go with the next message and stay in its history. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startConsoleChat } from '../../../src/platforms/console/console-chat.ts';
import { lastUserParts, smallPng, tinyPdf, withVisionModels } from '../../helpers/attachment-files.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';

async function chat(app: TestApp, lines: string[]): Promise<string> {
  const input = new PassThrough();
  const writes: string[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString());
      callback();
    },
  });
  const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' } });
  for (const line of lines) input.write(`${line}\n`);
  input.end();
  await session.done;
  return writes.join('');
}

describe('terminal /attach', () => {
  let app: TestApp;
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-attach-'));
  });
  afterEach(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('adds a local image and a text file to the next message only; the follow-up still sends the image', async () => {
    app = await startTestApp({ env: { DEFAULT_MODEL: 'openai/gpt-4o' } });
    await withVisionModels(app.openrouter, app.core.catalog);
    const png = await smallPng();
    await writeFile(join(dir, 'plot.png'), png);
    await writeFile(join(dir, 'notes.md'), '# Notes\nship on Friday\n');
    const out = await chat(app, [`/attach ${join(dir, 'plot.png')}`, `/attach ${join(dir, 'notes.md')}`, '/attach', 'what do these say?', 'and the date?']);
    expect(out).toContain('Attached plot.png for the next message (1 file).');
    expect(out).toContain('Attached for the next message: plot.png, notes.md');
    const [first, second] = app.openrouter.chatRequests().map((r) => r.body!.messages);
    expect(first!.at(-1)!.content).toEqual([
      { type: 'text', text: 'what do these say?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
      { type: 'text', text: 'File notes.md:\n```\n# Notes\nship on Friday\n```' },
    ]);
    expect(second!.at(-1)!.content).toBe('and the date?');
    expect(second![1]!.content).toEqual(first!.at(-1)!.content);
    expect(lastUserParts(app.openrouter)).toEqual([{ type: 'text', text: 'and the date?' }]);
  });

  it('sends a PDF with the plugin, and the follow-up carries its annotations so it is parsed once', async () => {
    app = await startTestApp();
    await writeFile(join(dir, 'spec.pdf'), tinyPdf());
    await chat(app, ['/model option pdf-engine cloudflare-ai', `/attach ${join(dir, 'spec.pdf')}`, 'summarise', 'more detail']);
    const [first, second] = app.openrouter.chatRequests().map((r) => r.body!);
    expect(first!.plugins).toEqual([{ id: 'file-parser', pdf: { engine: 'cloudflare-ai' } }]);
    expect(second!.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect((second!.messages[2] as { annotations?: Array<{ type: string }> }).annotations?.map((a) => a.type)).toEqual(['file']);
    expect(app.openrouter.parsedFiles).toBe(1);
  });

  it('says when a path cannot be attached, and /attach none clears the list', async () => {
    app = await startTestApp();
    await writeFile(join(dir, 'a.txt'), 'x');
    const out = await chat(app, [`/attach ${join(dir, 'missing.txt')}`, `/attach ${join(dir, 'a.txt')}`, '/attach none', 'plain question']);
    expect(out).toMatch(/Cannot attach .*missing\.txt: ENOENT/);
    expect(out).toContain('Attachments cleared.');
    expect(app.openrouter.chatRequests()[0]!.body!.messages.at(-1)!.content).toBe('plain question');
  });
});
