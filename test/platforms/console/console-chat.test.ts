import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
import { chat } from './chat-session.ts';

describe('terminal chat', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it('streams an answer and prints one footer line with model, tokens and cost', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({ text: ['Hel', 'lo ', 'there', '!'], chunkDelayMs: 5, usage: { prompt_tokens: 12, completion_tokens: 4, cost: 0.00012 } });
    const session = await chat(app, ['Hi bot']);
    const out = session.output();
    expect(out).toContain('Hello there!\n— openai/gpt-4o-mini · 12 in / 4 out · $0.0001');
    // Streamed: the answer arrived in several writes before the footer.
    const footerIndex = session.writes.findIndex((w) => w.includes('—'));
    expect(session.writes.slice(0, footerIndex).filter((w) => w.length > 0).length).toBeGreaterThanOrEqual(4);
    expect(out.match(/— /g)).toHaveLength(1);
    const request = app.openrouter.chatRequests()[0]!;
    expect(request.body?.model).toBe('openai/gpt-4o-mini');
    expect(request.body?.messages.at(-1)).toMatchObject({ role: 'user', content: 'Hi bot' });
  });

  it('keeps the history, and /new starts afresh', async () => {
    app = await startTestApp();
    await chat(app, ['first question', 'second question', '/new', 'third question']);
    const [first, second, third] = app.openrouter.chatRequests().map((r) => r.body!.messages);
    expect(first!.map((m) => m.role)).toEqual(['system', 'user']);
    expect(second!.map((m) => m.content)).toEqual([expect.any(String), 'first question', 'You said: first question', 'second question']);
    expect(third!.map((m) => m.role)).toEqual(['system', 'user']);
    expect(third!.at(-1)?.content).toBe('third question');
  });

  it('switches models with /model set and shows it in the footer', async () => {
    app = await startTestApp();
    const session = await chat(app, ['/model set anthropic/claude-3.5-sonnet', 'hello', '/model show']);
    const out = session.output();
    expect(out).toContain('The model for this channel is now `anthropic/claude-3.5-sonnet` (200k context');
    expect(app.openrouter.chatRequests()[0]!.body?.model).toBe('anthropic/claude-3.5-sonnet');
    expect(out).toContain('— anthropic/claude-3.5-sonnet ·');
    expect(out).toContain('Model: `anthropic/claude-3.5-sonnet` (channel)');
  });

  it('rejects unknown models with suggestions, and bad commands with usage', async () => {
    app = await startTestApp();
    const out = (await chat(app, ['/model set anthropic/claude-3.5-sonet', '/model set', '/frob', '/quota set default requests-per-day -3'])).output();
    expect(out).toContain('There is no model `anthropic/claude-3.5-sonet` on OpenRouter. Did you mean `anthropic/claude-3.5-sonnet`');
    expect(out).toContain('`model` is required. Usage: `/model set <model> [scope]`');
    expect(out).toContain('Unknown command `/frob`');
    expect(out).toContain('A limit cannot be negative');
    expect(app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('lists models with context and prices, and free ones', async () => {
    app = await startTestApp();
    const out = (await chat(app, ['/models claude', '/models --free'])).output();
    expect(out).toContain('`anthropic/claude-3.5-sonnet` · 200k context · $3.00 in / $15.00 out per 1M tokens');
    expect(out).toContain('`meta-llama/llama-3.1-8b-instruct:free` · 131k context · free');
  });

  it('refuses past the quota, saying which limit, the usage and when it resets', async () => {
    app = await startTestApp({ env: { QUOTA_DEFAULT_REQUESTS_PER_DAY: '2' } });
    const out = (await chat(app, ['one', 'two', 'three', '/usage'])).output();
    expect(app.openrouter.chatRequests()).toHaveLength(2);
    expect(out).toMatch(/You have reached your daily request limit: 2 used of 2.*It resets \d{4}-\d\d-\d\d 00:00 UTC \(in /);
    expect(out).toContain('Requests today: 2 of 2 (0 left)');
    const ledger = await app.core.store.ledger({});
    // Rows by time: the refusal may be written before the second answer's settle lands, so order is not asserted.
    expect(ledger.map((row) => row.outcome).sort()).toEqual(['ok', 'ok', 'refused']);
  });

  it('shows an upstream error clearly and keeps going', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({ status: 402, error: { code: 402, message: 'Insufficient credits' } });
    const out = (await chat(app, ['costly question', 'next question'])).output();
    expect(out).toMatch(/⚠️ .*credits/i);
    expect(out).toContain('You said: next question');
    const ledger = await app.core.store.ledger({});
    expect(ledger.map((row) => [row.outcome, row.errorKind])).toEqual([
      ['error', 'out_of_credits'],
      ['ok', null],
    ]);
  });

  it('sees the terminal user as an admin', async () => {
    app = await startTestApp();
    const out = (await chat(app, ['/quota set default usd-per-day 1.5', '/quota show'])).output();
    expect(out).toContain('`usd-per-day` for everyone (default) is now $1.50.');
    expect(out).toContain('`usd-per-day`: $1.50 (server default)');
  });
});
