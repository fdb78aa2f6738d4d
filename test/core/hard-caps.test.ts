/**
 * USD limits are hard caps: for any number of concurrent requests, a user's
 * (and a server's) settled spend never exceeds the limit, whatever model
 * answers and however many rounds a tool loop takes. Real openai SDK against
 * the fake OpenRouter, real SQLite store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/store/types.ts';
import { defaultModels, modelEntry, startFakeOpenRouter, type ChatBody, type FakeOpenRouter, type Scenario } from '../fakes/openrouter.ts';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { startTestApp, TEST_API_KEY, type TestApp } from '../helpers/test-app.ts';

const PRIMARY = 'acme/standard';
/** The fallback costs more than the primary: an outage of the cheap one must not break the cap. */
const FALLBACK = 'acme/premium';
const ROUTED = ['zeta/small', 'zeta/large'];

function models() {
  const priced = (id: string, prompt: number, completion: number) =>
    modelEntry(id, { pricing: { prompt: String(prompt), completion: String(completion), request: '0' } });
  return [
    ...defaultModels(),
    priced(PRIMARY, 0.000002, 0.000008),
    priced(FALLBACK, 0.00001, 0.00004),
    priced('zeta/small', 0.0000005, 0.000002),
    priced('zeta/large', 0.000006, 0.00003),
    // The priciest model of all: the auto router may not pick it once AUTO_ROUTER_MODELS says zeta/*.
    priced('omega/huge', 0.00015, 0.0006),
  ];
}

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Usage as a harsh provider would report it: one prompt token per character
 * sent (four times the usual rate) and, mostly, nearly all of max_tokens
 * (real upstreams never exceed it). The fake turns it into `usage.cost`
 * at the answering model's prices.
 */
function harshUsage(body: ChatBody, r: () => number): { prompt_tokens: number; completion_tokens: number } {
  let chars = JSON.stringify(body.tools ?? []).length;
  for (const m of body.messages) chars += (m.content ?? '').length + JSON.stringify(m.tool_calls ?? []).length;
  const max = body.max_tokens ?? 1;
  // Mostly near the whole budget: the worst case is what a cap has to survive.
  const share = r() < 0.8 ? 0.85 + 0.15 * r() : r();
  return { prompt_tokens: chars, completion_tokens: Math.max(1, Math.min(max, Math.ceil(share * max))) };
}

function sumUsd(rows: readonly LedgerEntry[]): number {
  return rows.reduce((n, row) => n + row.costUsd, 0);
}

/** 200 /ask at once, each in its own channel (so no channel's rate budget slows them). */
async function askAtOnce(h: Harness, count: number, user: (i: number) => string, prompt: (i: number) => string): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      h.run({ id: user(i), name: user(i) }, 'ask', undefined, { prompt: prompt(i) }, { channelId: `c${i}`, conversationKey: `test:c${i}` }),
    ),
  );
}

async function expectOneRowEach(app: TestApp, count: number): Promise<LedgerEntry[]> {
  const rows = await app.core.store.ledger({});
  expect(rows).toHaveLength(count);
  expect(new Set(rows.map((r) => r.requestId)).size).toBe(count);
  expect(rows.filter((r) => r.outcome === 'ok').length).toBeGreaterThan(0);
  expect(rows.filter((r) => r.outcome === 'refused').length).toBeGreaterThan(0);
  expect(rows.filter((r) => r.outcome !== 'ok' && r.outcome !== 'refused')).toEqual([]);
  return rows;
}

describe('USD limits are hard caps', () => {
  let fake: FakeOpenRouter;
  let app: TestApp;

  async function start(env: Record<string, string>): Promise<Harness> {
    fake = await startFakeOpenRouter({ apiKey: TEST_API_KEY, models: models() });
    app = await startTestApp({
      openrouter: fake,
      env: { QUOTA_MAX_CONCURRENT: '1000', DEFAULT_MAX_TOKENS: '500', DEFAULT_TOOLS: '', LOG_LEVEL: 'info', ...env },
    });
    return createHarness(app.core);
  }

  afterEach(async () => {
    await app?.close();
    await fake?.close();
  });

  it('200 concurrent requests with a pricier fallback answering at random never settle past usd-per-day', async () => {
    const limit = 0.6;
    const h = await start({ DEFAULT_MODEL: PRIMARY, DEFAULT_FALLBACK_MODELS: FALLBACK, QUOTA_DEFAULT_USD_PER_DAY: String(limit) });
    const r = random(1);
    fake.setDefault((body): Scenario => ({ text: ['ok'], model: r() < 0.6 ? FALLBACK : PRIMARY, usage: harshUsage(body, r), firstTokenDelayMs: Math.floor(r() * 30) }));
    await askAtOnce(h, 200, () => 'u1', (i) => `question ${i}`);
    const rows = await expectOneRowEach(app, 200);
    expect(sumUsd(rows)).toBeLessThanOrEqual(limit);
    expect(rows.some((row) => row.modelAnswered === FALLBACK)).toBe(true);
    expect((await app.core.store.usage('test', 'w1', 'u1', new Date())).reserved.requests).toBe(0);
  });

  it('200 concurrent requests to openrouter/auto stay within AUTO_ROUTER_MODELS, which reaches OpenRouter as allowed_models, and within the limit', async () => {
    const limit = 0.4;
    const h = await start({ DEFAULT_MODEL: 'openrouter/auto', AUTO_ROUTER_MODELS: 'zeta/*', QUOTA_DEFAULT_USD_PER_DAY: String(limit) });
    const r = random(2);
    fake.setDefault((body): Scenario => ({ text: ['routed'], usage: harshUsage(body, r), firstTokenDelayMs: Math.floor(r() * 30) }));
    await askAtOnce(h, 200, () => 'u1', (i) => `route ${i}`);
    const rows = await expectOneRowEach(app, 200);
    expect(sumUsd(rows)).toBeLessThanOrEqual(limit);
    const answered = new Set(rows.filter((row) => row.outcome === 'ok').map((row) => row.modelAnswered));
    expect([...answered].sort()).toEqual([...ROUTED].sort());
    for (const request of fake.chatRequests()) expect(request.body!.plugins).toEqual([{ id: 'auto-router', allowed_models: ['zeta/*'] }]);
  });

  it('200 concurrent tool loops of several rounds each never settle past usd-per-day', async () => {
    const limit = 0.8;
    const h = await start({
      DEFAULT_MODEL: PRIMARY,
      DEFAULT_FALLBACK_MODELS: FALLBACK,
      DEFAULT_TOOLS: 'calculator',
      QUOTA_DEFAULT_USD_PER_DAY: String(limit),
    });
    const r = random(3);
    fake.setDefault((body): Scenario => {
      const rounds = Number(/loop (\d)/.exec(String(body.messages.find((m) => m.role === 'user')?.content ?? ''))?.[1] ?? 1);
      const done = body.messages.filter((m) => m.role === 'tool').length;
      // The pricier fallback answers most rounds: a loop costs several times its first round.
      const model = r() < 0.8 ? FALLBACK : PRIMARY;
      const usage = harshUsage(body, r);
      if (body.tools && done < rounds) {
        // A long expression: the prompt of every later round grows by it.
        return { model, usage, toolCalls: [{ name: 'calculator', arguments: JSON.stringify({ expression: `${'1+'.repeat(200)}${done}` }) }] };
      }
      return { model, usage, text: [`${done} rounds`], firstTokenDelayMs: Math.floor(r() * 20) };
    });
    await askAtOnce(h, 200, () => 'u1', (i) => `loop ${(i % 3) + 2}`);
    const rows = await expectOneRowEach(app, 200);
    expect(sumUsd(rows)).toBeLessThanOrEqual(limit);
    const requests = fake.chatRequests().map((q) => q.body!);
    // Several rounds really ran, and some further rounds had to go without tools.
    expect(requests.filter((b) => b.messages.filter((m) => m.role === 'tool').length >= 2).length).toBeGreaterThan(0);
    expect(requests.filter((b) => b.tools === undefined && b.messages.some((m) => m.role === 'tool')).length).toBeGreaterThan(0);
  });

  it("200 concurrent requests from 20 users never settle past the server's monthly budget", async () => {
    const budget = 0.5;
    const h = await start({ DEFAULT_MODEL: PRIMARY, DEFAULT_FALLBACK_MODELS: FALLBACK, QUOTA_SERVER_USD_PER_MONTH: String(budget) });
    const r = random(4);
    fake.setDefault((body): Scenario => ({ text: ['ok'], model: r() < 0.5 ? FALLBACK : PRIMARY, usage: harshUsage(body, r), firstTokenDelayMs: Math.floor(r() * 30) }));
    await askAtOnce(h, 200, (i) => `u${i % 20}`, (i) => `question ${i}`);
    const rows = await expectOneRowEach(app, 200);
    expect(sumUsd(rows)).toBeLessThanOrEqual(budget);
    expect(h.replies.some((reply) => reply.text.includes("This server has reached this server's monthly budget"))).toBe(true);
  });

  it('refuses, with a clear message and a refused ledger row, a user with a spending limit when the catalog is down', async () => {
    fake = await startFakeOpenRouter({ apiKey: TEST_API_KEY, models: models() });
    fake.modelsStatus = 500;
    app = await startTestApp({ openrouter: fake, env: { DEFAULT_MODEL: PRIMARY, QUOTA_DEFAULT_USD_PER_DAY: '5' } });
    const h = createHarness(app.core);
    await h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'hi' });
    expect(h.lastReply()).toBe(
      `The price of \`${PRIMARY}\` is not known right now (model catalog unavailable), and you have a spending limit; try again shortly or pick a listed model.`,
    );
    expect(fake.chatRequests()).toHaveLength(0);
    expect((await app.core.store.ledger({})).map((row) => [row.outcome, row.errorKind])).toEqual([['refused', 'quota']]);
  });

  it('refuses a fallback the catalog does not list when a server budget is in force, and lets it through without one', async () => {
    const h = await start({ DEFAULT_MODEL: PRIMARY, DEFAULT_FALLBACK_MODELS: 'someone/unlisted', QUOTA_SERVER_USD_PER_MONTH: '5' });
    await h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'hi' });
    expect(h.lastReply()).toContain('The price of `someone/unlisted` is not listed in OpenRouter\'s model catalog, and this server has a spending budget');
    expect(fake.chatRequests()).toHaveLength(0);
    await app.core.store.setQuotaLimit('test', 'w1', { kind: 'server' }, 'usd-per-month', null);
    await h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'hi' });
    expect(fake.chatRequests()).toHaveLength(1);
  });

  it('a :free model with a paid fallback reserves the fallback\'s worst case', async () => {
    const h = await start({
      DEFAULT_MODEL: 'meta-llama/llama-3.1-8b-instruct:free',
      DEFAULT_FALLBACK_MODELS: FALLBACK,
      QUOTA_DEFAULT_USD_PER_DAY: '1',
    });
    fake.setDefault(() => ({ text: ['…'], hang: 'after-text' }));
    const running = h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'hi' });
    while (fake.chatRequests().length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const reserved = (await app.core.store.usage('test', 'w1', 'u1', new Date())).reserved.usd;
    // At least the whole output budget at the fallback's price.
    expect(reserved).toBeGreaterThanOrEqual(500 * 0.00004);
    app.core.pipeline.stop({}, 'test');
    await running;
  });

  it('a refused top-up sends the next round without tools, says so, and the answer settles within the limit', async () => {
    const limit = 1;
    const h = await start({ DEFAULT_MODEL: PRIMARY, DEFAULT_TOOLS: 'calculator', QUOTA_DEFAULT_USD_PER_DAY: String(limit) });
    let release!: () => void;
    const firstRoundHeld = new Promise<void>((resolve) => (release = resolve));
    fake.enqueue(
      { text: ['Let me compute. '], restWaitsFor: firstRoundHeld, toolCalls: [{ name: 'calculator', arguments: JSON.stringify({ expression: `${'1+'.repeat(300)}1` }) }] },
      { text: ['It is 301.'] },
    );
    const running = h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: 'add them up' });
    while (fake.chatRequests().length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // Someone else's answers take every cent the first round's reservation left.
    const usage = await app.core.store.usage('test', 'w1', 'u1', new Date());
    const filler = await app.core.store.reserve({
      id: 'filler',
      user: { platform: 'test', workspaceId: 'w1', userId: 'u1' },
      channelId: 'c9',
      limits: {},
      estimate: { tokens: 0, usd: limit - usage.reserved.usd },
      now: new Date(),
      ttlMs: 60_000,
    });
    expect(filler.ok).toBe(true);
    release();
    await running;
    const [first, second] = fake.chatRequests().map((r) => r.body!);
    expect(first!.tools?.map((t) => t.function!.name)).toEqual(['calculator']);
    expect(second!.tools).toBeUndefined();
    expect(second!.tool_choice).toBeUndefined();
    expect(second!.messages.some((m) => m.role === 'tool')).toBe(true);
    expect(h.surfaces[0]!.texts().join('\n')).toContain('It is 301.');
    expect(app.logs.some((l) => l.msg === 'quota top-up refused: the round goes without tools')).toBe(true);
    const [row] = await app.core.store.ledger({});
    expect(row).toMatchObject({ outcome: 'ok' });
    // Both rounds fit in what the first reservation held; with the filler, the day stays within the limit.
    expect(row!.costUsd).toBeLessThanOrEqual(usage.reserved.usd);
    expect(row!.costUsd + (limit - usage.reserved.usd)).toBeLessThanOrEqual(limit);
  });
});
