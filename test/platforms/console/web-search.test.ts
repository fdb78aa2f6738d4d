/** Web search in the terminal: the sources as plain numbered lines between the answer and its footer. */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
import { chat } from './chat-session.ts';

describe('web search in the terminal', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it('prints numbered sources as plain lines, once per URL, above the footer', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'web_search' } });
    app.openrouter.enqueue({ text: ['Yes [1], ', 'and [2].'] });
    const out = (await chat(app, ['news?'])).output();
    expect(out).toContain('Yes [1], and [2].\n\nSources:\n[1] First source: https://example.com/first\n[2] Second source: https://example.org/second\n— openai/gpt-4o-mini');
    expect(out.match(/example\.com\/first/g)).toHaveLength(1);
    // The searching status came first, on a line of its own.
    expect(out.indexOf('🔎 searching…\n')).toBeGreaterThanOrEqual(0);
    expect(out.indexOf('🔎 searching…')).toBeLessThan(out.indexOf('Yes [1]'));
  });
});
