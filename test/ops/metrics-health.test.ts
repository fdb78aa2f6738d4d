/**
 * /metrics and /healthz over real HTTP, fed by a real core (fake OpenRouter,
 * SQLite in memory) answering, refusing, failing and being rate limited.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/types.ts';
import { startOpsServer, type OpsServer } from '../../src/ops/health-server.ts';
import { createMetrics, type Metrics } from '../../src/ops/metrics.ts';
import { createFakeSurface } from '../fakes/fake-surface.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

let t: TestApp;
let metrics: Metrics;
let ops: OpsServer;
let slackUp: boolean;
let storeUp: boolean;

beforeEach(async () => {
  t = await startTestApp({ env: { QUOTA_DEFAULT_REQUESTS_PER_DAY: '3' } });
  metrics = createMetrics(t.core.events, { catalog: t.core.catalog });
  slackUp = true;
  storeUp = true;
  ops = await startOpsServer({
    port: 0,
    host: '127.0.0.1',
    health: {
      adapters: [{ platform: 'slack', connected: () => slackUp }],
      store: { ping: () => (storeUp ? t.core.store.ping() : Promise.reject(new Error('connection refused'))) },
      draining: () => t.core.draining,
      pingTimeoutMs: 500,
      // Every request probes here; the one-second cache has its own tests (health-guarantees.test.ts).
      probeCacheMs: 0,
    },
    metrics,
    logger: t.core.logger,
  });
});

afterEach(async () => {
  metrics.close();
  await ops.close();
  await t.close();
});

const base = () => `http://127.0.0.1:${ops.address().port}`;

/** The value of one sample line, e.g. `switchboard_requests_total{...} 1`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('/metrics', () => {
  it('counts answers, tokens, cost, latency, streams, refusals, 429s and OpenRouter errors by class', async () => {
    const h = createHarness(t.core);
    const user = { id: 'u1', name: 'Ada' };
    t.openrouter.enqueue({ text: ['Hello ', 'there'], usage: { prompt_tokens: 12, completion_tokens: 7, cost: 0.0021 } });
    await h.run(user, 'ask', undefined, { prompt: 'hi' });
    t.openrouter.enqueue({ status: 402, error: { code: 402, message: 'Insufficient credits' } });
    await h.run(user, 'ask', undefined, { prompt: 'again' });

    // A 429 from the platform while the answer is posted.
    const fake = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 50, windowMs: 1000 }, clock: systemClock, rateLimitNext: { calls: 1, retryAfterMs: 20 } });
    t.openrouter.enqueue({ text: ['third'] });
    const result = await t.core.pipeline.ask({
      place: { platform: 'test', workspaceId: 'w1', channelId: 'c1' },
      user,
      prompt: 'three',
      conversationKey: 'k',
      history: async () => [],
      surface: fake.surface,
      isAdmin: false,
    });
    expect(result.outcome).toBe('ok');
    await h.run(user, 'ask', undefined, { prompt: 'over the quota' });
    expect(h.lastReply()).toMatch(/daily request limit/);

    await metrics.settled();
    const response = await fetch(`${base()}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(sample(text, 'switchboard_requests_total', { platform: 'test', outcome: 'ok', model: 'openai/gpt-4o-mini' })).toBe(2);
    expect(sample(text, 'switchboard_requests_total', { platform: 'test', outcome: 'error' })).toBe(1);
    expect(sample(text, 'switchboard_tokens_total', { platform: 'test', direction: 'in' })).toBeGreaterThanOrEqual(12);
    expect(sample(text, 'switchboard_tokens_total', { platform: 'test', direction: 'out' })).toBeGreaterThanOrEqual(7);
    expect(sample(text, 'switchboard_cost_usd_total', { platform: 'test' })).toBeGreaterThanOrEqual(0.0021);
    expect(sample(text, 'switchboard_first_token_seconds_count', { platform: 'test' })).toBe(2);
    expect(sample(text, 'switchboard_answer_seconds_count', { platform: 'test', outcome: 'ok' })).toBe(2);
    expect(sample(text, 'switchboard_streams_in_progress', { platform: 'test' })).toBe(0);
    expect(sample(text, 'switchboard_quota_refusals_total', { platform: 'test' })).toBe(1);
    expect(sample(text, 'switchboard_platform_rate_limited_total', { platform: 'test' })).toBe(1);
    expect(sample(text, 'switchboard_openrouter_errors_total', { kind: 'out_of_credits' })).toBe(1);
    // Our own registry: nothing from prom-client's global one or the process unless asked.
    expect(text).not.toContain('process_cpu');
  });

  it('shows streams in progress while an answer streams', async () => {
    const h = createHarness(t.core);
    t.openrouter.enqueue({ text: ['a', 'b', 'c', 'd'], chunkDelayMs: 100 });
    const running = h.run({ id: 'u2', name: 'Bo' }, 'ask', undefined, { prompt: 'slow' });
    await expect.poll(async () => sample(await (await fetch(`${base()}/metrics`)).text(), 'switchboard_streams_in_progress', { platform: 'test' })).toBe(1);
    await running;
    expect(sample(await metrics.render(), 'switchboard_streams_in_progress', { platform: 'test' })).toBe(0);
  });
});

describe('/healthz', () => {
  it('is 200 when every platform is connected and the store answers, 503 naming what is down otherwise', async () => {
    let response = await fetch(`${base()}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, platforms: { slack: 'up' }, store: 'up', draining: false, down: [] });

    slackUp = false;
    response = await fetch(`${base()}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ ok: false, platforms: { slack: 'down: not connected' }, store: 'up', down: ['slack'] });

    slackUp = true;
    storeUp = false;
    response = await fetch(`${base()}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ ok: false, store: 'down: query failed', down: ['store'] });

    storeUp = true;
    t.core.draining = true;
    response = await fetch(`${base()}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ draining: true, down: ['shutting down'] });
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    expect((await fetch(`${base()}/`)).status).toBe(404);
    expect((await fetch(`${base()}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
