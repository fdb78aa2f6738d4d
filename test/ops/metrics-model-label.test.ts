/**
 * The `model` label of /metrics takes catalog ids only, so users cannot grow
 * the series count by typing model ids: a real core (fake OpenRouter and its
 * catalog, SQLite in memory) answers, and /metrics is read over real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startOpsServer, type OpsServer } from '../../src/ops/health-server.ts';
import { createMetrics, type Metrics } from '../../src/ops/metrics.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

let t: TestApp | undefined;
let metrics: Metrics | undefined;
let ops: OpsServer | undefined;

afterEach(async () => {
  metrics?.close();
  await ops?.close();
  await t?.close();
  t = metrics = ops = undefined;
});

async function start(): Promise<{ t: TestApp; metrics: Metrics; scrape: () => Promise<string> }> {
  const app = await startTestApp();
  t = app;
  metrics = createMetrics(app.core.events, { catalog: app.core.catalog });
  ops = await startOpsServer({
    port: 0,
    host: '127.0.0.1',
    health: { adapters: [], store: app.core.store },
    metrics,
    logger: app.core.logger,
  });
  const url = `http://127.0.0.1:${ops.address().port}/metrics`;
  const m = metrics;
  return {
    t: app,
    metrics: m,
    scrape: async () => {
      await m.settled();
      return (await fetch(url)).text();
    },
  };
}

/** The `model` label values of one metric's sample lines. */
function modelLabels(text: string, name: string): Set<string> {
  const models = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const model = /model="([^"]*)"/.exec(line)?.[1];
    if (model !== undefined) models.add(model);
  }
  return models;
}

// An admin may pick any model for one question.
const user = { id: 'u1', name: 'Ada', admin: true };

describe('the model label', () => {
  it('user-typed model ids count as "other", so users cannot grow the series count', async () => {
    const { t, scrape } = await start();
    const h = createHarness(t.core);
    // Ids the catalog does not list but the pipeline lets through: router ids and variants.
    const typed = [...Array.from({ length: 20 }, (_, i) => `openrouter/made-up-${i}`), 'openai/gpt-4o-mini:nitro'];
    for (const model of typed) {
      t.openrouter.enqueue({ text: ['ok'], usage: { prompt_tokens: 3, completion_tokens: 1, cost: 0.001 } });
      await h.run(user, 'ask', undefined, { prompt: 'hi', model });
    }
    expect(t.openrouter.chatRequests().map((r) => r.body!.model)).toEqual(typed);
    const text = await scrape();
    for (const name of ['switchboard_requests_total', 'switchboard_tokens_total', 'switchboard_cost_usd_total']) {
      expect(modelLabels(text, name)).toEqual(new Set(['other']));
    }
    expect(text).toContain(`switchboard_requests_total{platform="test",outcome="ok",model="other"} ${typed.length}`);
  });

  it('a model in the catalog keeps its id, also when OpenRouter answers with an id the catalog does not list', async () => {
    const { t, scrape } = await start();
    const h = createHarness(t.core);
    t.openrouter.enqueue({ text: ['one'] });
    await h.run(user, 'ask', undefined, { prompt: 'hi', model: 'openai/gpt-4o-mini' });
    t.openrouter.enqueue({ text: ['two'], model: 'anthropic/claude-3.5-sonnet' });
    await h.run(user, 'ask', undefined, { prompt: 'hi', model: 'openai/gpt-4o-mini' });
    t.openrouter.enqueue({ text: ['three'], model: 'openai/gpt-4o-mini-2024-07-18' });
    await h.run(user, 'ask', undefined, { prompt: 'hi', model: 'openai/gpt-4o-mini' });
    const text = await scrape();
    expect(modelLabels(text, 'switchboard_requests_total')).toEqual(new Set(['openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet']));
    expect(text).toContain('switchboard_requests_total{platform="test",outcome="ok",model="openai/gpt-4o-mini"} 2');
    expect(text).toContain('switchboard_requests_total{platform="test",outcome="ok",model="anthropic/claude-3.5-sonnet"} 1');
  });

  it('every model is "other" while the catalog cannot be loaded, and without a catalog', async () => {
    const app = await startTestApp();
    t = app;
    app.openrouter.modelsStatus = 503;
    const h = createHarness(app.core);
    metrics = createMetrics(app.core.events, { catalog: app.core.catalog });
    const bare = createMetrics(app.core.events);
    try {
      app.openrouter.enqueue({ text: ['ok'] });
      await h.run(user, 'ask', undefined, { prompt: 'hi', model: 'someone/typed-this' });
      expect(app.openrouter.chatRequests()).toHaveLength(1);
      await metrics.settled();
      await bare.settled();
      for (const m of [metrics, bare]) expect(modelLabels(await m.render(), 'switchboard_requests_total')).toEqual(new Set(['other']));
    } finally {
      bare.close();
    }
  });
});
