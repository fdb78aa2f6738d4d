import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/types.ts';
import { createFakeSurface } from '../fakes/fake-surface.ts';
import { modelEntry } from '../fakes/openrouter.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, TEST_API_KEY, type TestApp } from '../helpers/test-app.ts';
import { waitFor } from '../helpers/wait.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };


describe('answer pipeline', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it('streams into the surface, ends with a footer, writes one ledger row and one log line', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    app.openrouter.enqueue({ text: ['The answer ', 'is ', '42.'], chunkDelayMs: 5, usage: { prompt_tokens: 20, completion_tokens: 5, cost: 0.0021 } });
    const seen: string[] = [];
    app.core.events.on('answer-started', (e) => seen.push(`started ${e.model}`));
    app.core.events.on('answer-finished', (e) => seen.push(`finished ${e.outcome} ${e.tokensIn}/${e.tokensOut} ${e.costUsd}`));
    await h.run(ada, 'ask', undefined, { prompt: 'meaning of life?' });
    expect(seen).toEqual(['started openai/gpt-4o-mini', 'finished ok 20/5 0.0021']);
    const surface = h.surfaces[0]!;
    expect(surface.violations).toEqual([]);
    const final = surface.texts().join('\n');
    expect(final).toContain('The answer is 42.');
    expect(final).toMatch(/openai\/gpt-4o-mini · 20 in \/ 5 out · \$0\.0021 · \d+\.\d s/);
    // The Stop button shows while streaming and is gone at the end.
    expect(surface.calls.some((c) => c.actions?.some((a) => a.id === 'stop'))).toBe(true);
    expect(surface.messages().at(-1)?.actions).toEqual([]);

    const [row] = await app.core.store.ledger({});
    expect(row).toMatchObject({
      platform: 'test',
      workspaceId: 'w1',
      channelId: 'c1',
      userId: 'u1',
      modelRequested: 'openai/gpt-4o-mini',
      modelAnswered: 'openai/gpt-4o-mini',
      tokensIn: 20,
      tokensOut: 5,
      costUsd: 0.0021,
      outcome: 'ok',
    });
    expect(row?.generationId).toMatch(/^gen-/);
    const line = app.logs.find((l) => l.msg === 'answer ok');
    expect(line).toMatchObject({ platform: 'test', channel: 'c1', user: 'u1', modelRequested: 'openai/gpt-4o-mini', modelAnswered: 'openai/gpt-4o-mini', tokensIn: 20, tokensOut: 5, costUsd: 0.0021 });
    expect(line?.ttftMs).toEqual(expect.any(Number));
    expect(line?.totalMs).toEqual(expect.any(Number));
    expect(line?.generationId).toBe(row?.generationId);
    expect(app.rawLogs()).not.toContain(TEST_API_KEY);
    // The upstream got a hashed user, never the raw id.
    const body = app.openrouter.chatRequests()[0]!.body!;
    expect(typeof body.user).toBe('string');
    expect(JSON.stringify(body)).not.toContain('"u1"');
  });

  it('shows tool calls as they happen and sends the results back', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'calculator', arguments: '{"expression":"17*23"}' }], firstTokenDelayMs: 0 },
      { text: ['17 × 23 = 391.'], firstTokenDelayMs: 30 },
    );
    await h.run(ada, 'ask', undefined, { prompt: 'what is 17*23?' });
    const surface = h.surfaces[0]!;
    expect(surface.calls.some((c) => c.text.includes('🔧 calculator…'))).toBe(true);
    expect(surface.texts().join('\n')).toContain('17 × 23 = 391.');
    expect(surface.texts().join('\n')).not.toContain('🔧 calculator…');
    const second = app.openrouter.chatRequests()[1]!.body!;
    const toolMessage = second.messages.find((m) => m.role === 'tool');
    expect(toolMessage?.content).toContain('391');
  });

  it('says the answer used a fallback model', async () => {
    app = await startTestApp({ env: { DEFAULT_FALLBACK_MODELS: 'anthropic/claude-3.5-sonnet' } });
    app.openrouter.down.add('openai/gpt-4o-mini');
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(h.surfaces[0]!.texts().join('\n')).toContain('anthropic/claude-3.5-sonnet (fallback for openai/gpt-4o-mini)');
    const [row] = await app.core.store.ledger({});
    expect(row).toMatchObject({ modelRequested: 'openai/gpt-4o-mini', modelAnswered: 'anthropic/claude-3.5-sonnet' });
  });

  it('keeps the partial answer and adds a clear error line when the stream fails half-way', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({
      text: ['Half an ', 'answer'],
      midStreamError: { code: 502, message: 'Provider disconnected' },
    });
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    const text = h.surfaces[0]!.texts().join('\n');
    expect(text).toContain('Half an answer');
    expect(text).toMatch(/⚠️ .*mid-answer/i);
    const [row] = await app.core.store.ledger({});
    expect(row).toMatchObject({ outcome: 'error', errorKind: 'mid_stream' });
    expect((await app.core.store.usage('test', 'w1', 'u1', new Date())).reserved.requests).toBe(0);
  });

  it('/stop stops a running answer, aborts the upstream and settles', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({ text: ['Once upon a time'], hang: 'after-text' });
    const h = createHarness(app.core);
    const asking = h.run(ada, 'ask', undefined, { prompt: 'tell a long story' });
    await waitFor(() => h.surfaces[0]?.texts().join('').includes('Once upon a time') ?? false, 'first text');
    await h.run(ada, 'stop', undefined, {});
    expect(h.lastReply()).toBe('Stopped 1 answer.');
    await asking;
    expect(h.surfaces[0]!.texts().join('\n')).toContain('⏹️ Stopped by Ada.');
    await app.openrouter.chatRequests()[0]!.finished;
    expect(app.openrouter.chatRequests()[0]!.aborted).toBe(true);
    const [row] = await app.core.store.ledger({});
    expect(row).toMatchObject({ outcome: 'cancelled', errorKind: 'aborted' });
    await h.run(ada, 'stop', undefined, {});
    expect(h.lastReply()).toBe('You have no answer running.');
  });

  it('stops streaming and settles when the answer message is deleted', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({ text: ['Some text', ...Array.from({ length: 200 }, (_, i) => ` more ${i}`)], chunkDelayMs: 10 });
    const h = createHarness(app.core);
    const asking = h.run(ada, 'ask', undefined, { prompt: 'hi' });
    await waitFor(() => h.surfaces[0]?.texts().join('').includes('Some text') ?? false, 'first text');
    const surface = h.surfaces[0]!;
    surface.deleteMessage(surface.messages()[0]!.id);
    // The next edit finds the message gone: the renderer stops and the request is aborted.
    await asking;
    await app.openrouter.chatRequests()[0]!.finished;
    expect(app.openrouter.chatRequests()[0]!.aborted).toBe(true);
    const rows = await app.core.store.ledger({});
    expect(rows).toHaveLength(1);
    expect(rows[0]?.outcome).toBe('cancelled');
  });

  it('when the answer cannot be shown at all, aborts the upstream request and settles it', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({ text: ['never', ' seen'], firstTokenDelayMs: 200, hang: 'after-text' });
    const h = createHarness(app.core);
    const broken = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 50, windowMs: 1000 }, clock: systemClock });
    broken.failNextPosts(100);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' }, { answerSurface: async () => broken.surface });
    expect(h.lastReply()).toMatch(/Something went wrong on our side \(error id [0-9a-f]{8}\)/);
    await app.openrouter.chatRequests()[0]!.finished;
    expect(app.openrouter.chatRequests()[0]!.aborted).toBe(true);
    const rows = await app.core.store.ledger({});
    expect(rows).toHaveLength(1);
    expect(rows[0]?.outcome).toBe('error');
    expect((await app.core.store.usage('test', 'w1', 'u1', new Date())).reserved.requests).toBe(0);
  });

  it('caps answers running at once per user', async () => {
    app = await startTestApp();
    app.openrouter.setDefault(() => ({ text: ['…'], hang: 'after-text' }));
    const h = createHarness(app.core);
    const first = h.run(ada, 'ask', undefined, { prompt: 'a' });
    const second = h.run(ada, 'ask', undefined, { prompt: 'b' });
    await waitFor(() => app.openrouter.chatRequests().length === 2, 'two running');
    await h.run(ada, 'ask', undefined, { prompt: 'c' });
    expect(h.lastReply()).toBe('You already have 2 answers running (the limit of answers running at once is 2). Wait for one to finish or use /stop.');
    // Someone else is not affected.
    const other = h.run(admin, 'ask', undefined, { prompt: 'd' });
    await waitFor(() => app.openrouter.chatRequests().length === 3, 'other user running');
    app.core.pipeline.stop({ platform: 'test', workspaceId: 'w1' }, 'test');
    await Promise.all([first, second, other]);
    const rows = await app.core.store.ledger({});
    expect(rows.map((r) => r.outcome).sort()).toEqual(['cancelled', 'cancelled', 'cancelled', 'refused']);
  });

  it('reserves the worst case against spending limits, and free models cost nothing but count', async () => {
    app = await startTestApp({ env: { QUOTA_DEFAULT_USD_PER_DAY: '0.001', QUOTA_DEFAULT_REQUESTS_PER_DAY: '3', DEFAULT_MAX_TOKENS: '1000' } });
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'set', { model: 'anthropic/claude-3.5-sonnet' });
    // 1000 output tokens at $15/1M alone is $0.015: more than the day's $0.001.
    await h.run(ada, 'ask', undefined, { prompt: 'expensive' });
    expect(h.lastReply()).toMatch(/You have reached your daily spending limit: \$0 used of \$0\.0010, and this request could need more/);
    await h.run(admin, 'model', 'set', { model: 'meta-llama/llama-3.1-8b-instruct:free' });
    await h.run(ada, 'ask', undefined, { prompt: 'free 1' });
    await h.run(ada, 'ask', undefined, { prompt: 'free 2' });
    await h.run(ada, 'ask', undefined, { prompt: 'free 3' });
    await h.run(ada, 'ask', undefined, { prompt: 'free 4' });
    expect(h.lastReply()).toContain('daily request limit: 3 used of 3');
    const rows = await app.core.store.ledger({});
    expect(rows.filter((r) => r.outcome === 'ok').map((r) => r.costUsd)).toEqual([0, 0, 0]);
    // Rows by time: a refusal may be written before an earlier answer's settle lands, so order is not asserted.
    expect(rows.map((r) => r.outcome).sort()).toEqual(['ok', 'ok', 'ok', 'refused', 'refused']);
  });

  it('trims old turns to fit a small context and says so in the footer', async () => {
    app = await startTestApp();
    app.openrouter.models.push(modelEntry('tiny/model', { context_length: 1500, top_provider: { context_length: 1500, max_completion_tokens: 500, is_moderated: false } }));
    await app.core.catalog.refresh();
    const history = Array.from({ length: 40 }, (_, i) => ({
      role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
      text: `turn ${i} ${'words '.repeat(30)}`,
      at: new Date(Date.now() - 100_000 + i),
      authorId: 'u1',
      authorName: 'Ada',
    }));
    const h = createHarness(app.core, { history });
    await h.run(admin, 'model', 'set', { model: 'tiny/model' });
    await h.run(ada, 'ask', undefined, { prompt: 'summarise' });
    expect(h.surfaces[0]!.texts().join('\n')).toMatch(/dropped \d+ earlier messages to fit/);
    const sent = app.openrouter.chatRequests()[0]!.body!.messages;
    expect(sent.length).toBeLessThan(42);
    expect(sent.at(-2)?.content).toContain('turn 39');
    expect(app.openrouter.chatRequests()[0]!.body!.max_tokens).toBe(500);
  });

  it('lets a model through with a warning when the catalog is down', async () => {
    app = await startTestApp();
    app.openrouter.modelsStatus = 500;
    await app.core.catalog.refresh().catch(() => undefined);
    const fresh = await startTestApp({ openrouter: app.openrouter });
    try {
      const h = createHarness(fresh.core);
      await h.run(admin, 'model', 'set', { model: 'someone/new-model' });
      expect(h.lastReply()).toContain('The model for this channel is now `someone/new-model`.');
      await h.run(ada, 'ask', undefined, { prompt: 'hi' });
      expect(app.openrouter.chatRequests().at(-1)!.body!.model).toBe('someone/new-model');
      expect(fresh.logs.some((l) => l.level === 40 && String(l.msg).includes('catalog'))).toBe(true);
    } finally {
      await fresh.close();
    }
  });
});
