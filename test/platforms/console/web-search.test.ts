/** Web search in the terminal: the sources as plain numbered lines between the answer and its footer. */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startConsoleChat } from '../../../src/platforms/console/console-chat.ts';
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

describe('web search in the terminal', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it('prints numbered sources as plain lines, once per URL, above the footer', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'web_search' } });
    app.openrouter.enqueue({ text: ['Yes [1], ', 'and [2].'] });
    const out = await chat(app, ['news?']);
    expect(out).toContain('Yes [1], and [2].\n\nSources:\n[1] First source: https://example.com/first\n[2] Second source: https://example.org/second\n— openai/gpt-4o-mini');
    expect(out.match(/example\.com\/first/g)).toHaveLength(1);
    // The searching status came first, on a line of its own.
    expect(out.indexOf('🔎 searching…\n')).toBeGreaterThanOrEqual(0);
    expect(out.indexOf('🔎 searching…')).toBeLessThan(out.indexOf('Yes [1]'));
  });
});
