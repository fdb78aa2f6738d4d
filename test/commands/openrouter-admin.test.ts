/**
 * What admins see of OpenRouter itself, on a real core with the real openai
 * SDK against the fake OpenRouter: presets as the model, the key's state in
 * /quota show server (cached a minute), the key-credit alert, /usage last.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../src/core/types.ts';
import { watchKeyCredit } from '../../src/ops/key-credit-alert.ts';
import { createFakeClock } from '../fakes/fake-clock.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };

function recordingAdapter(platform: string) {
  const posts: Array<{ channelId: string; text: string }> = [];
  const adapter: ChatAdapter = {
    platform,
    start: async () => undefined,
    stop: async () => undefined,
    connected: () => true,
    async postToChannel(channelId, text) {
      posts.push({ channelId, text });
    },
  };
  return { adapter, posts };
}

describe('OpenRouter for admins', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it('/model set accepts @preset/<slug> by its syntax, refuses a malformed one, and /model show says a preset is in charge', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'set', { model: '@preset/team-coder-2' });
    expect(h.lastReply()).toContain('The model for this channel is now `@preset/team-coder-2`.');
    expect(h.lastReply()).toContain('Its price is not known here, so people under a USD limit (or a server budget) are refused; everyone else may use it.');
    await h.run(ada, 'model', 'show', {});
    expect(h.lastReply()).toContain('**Model:** `@preset/team-coder-2`');
    expect(h.lastReply()).toContain('An OpenRouter preset is in charge');

    // Allowed without a USD limit: sent as the model id; whatever answers is not called a fallback.
    app.openrouter.enqueue({ text: ['preset answer'], model: 'openai/gpt-4o-mini' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(app.openrouter.chatRequests().at(-1)!.body!.model).toBe('@preset/team-coder-2');
    expect(h.surfaces.at(-1)!.texts().join('\n')).not.toContain('fallback');

    for (const bad of ['@preset/Team', '@preset/', '@preset/a_b', '@preset/x/y']) {
      await h.run(admin, 'model', 'set', { model: bad });
      expect(h.lastReply()).toMatch(/is not a preset id: presets look like `@preset\/my-preset`/);
    }
    expect((await app.core.settings.resolve({ platform: 'test', workspaceId: 'w1', channelId: 'c1' })).model.value).toBe('@preset/team-coder-2');
  });

  it('refuses a preset under a USD limit with a message that says why', async () => {
    app = await startTestApp({ env: { QUOTA_DEFAULT_USD_PER_DAY: '1' } });
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'set', { model: '@preset/team-coder' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(h.lastReply()).toContain('`@preset/team-coder` is an OpenRouter preset, whose price is not known here, and you have a spending limit');
    expect(app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('/quota show server shows the key state from GET /key and asks again only after a minute', async () => {
    const clock = createFakeClock(Date.UTC(2026, 11, 6, 12));
    app = await startTestApp({ clock });
    app.openrouter.key = { ...app.openrouter.key, limit: 50, limit_remaining: 12.5, limit_reset: 'monthly', usage: 37.5, usage_daily: 1.25, usage_monthly: 20 };
    const h = createHarness(app.core);
    const keyReads = () => app.openrouter.requests.filter((r) => r.path === '/key').length;
    await h.run(admin, 'quota', 'show', { user: 'server' });
    expect(h.lastReply()).toContain('**OpenRouter key**');
    expect(h.lastReply()).toContain('Limit: $50.00 (resets monthly)');
    expect(h.lastReply()).toContain('Remaining: $12.50');
    expect(h.lastReply()).toContain('Used today: $1.25 · this month: $20.00 · in all: $37.50');
    expect(keyReads()).toBe(1);

    app.openrouter.key = { ...app.openrouter.key, limit_remaining: 2 };
    await clock.advance(59_000);
    await h.run(admin, 'quota', 'show', { user: 'server' });
    expect(h.lastReply()).toContain('Remaining: $12.50');
    expect(keyReads()).toBe(1);
    await clock.advance(1_000);
    await h.run(admin, 'quota', 'show', { user: 'server' });
    expect(h.lastReply()).toContain('Remaining: $2.00');
    expect(keyReads()).toBe(2);

    await h.run(ada, 'quota', 'show', { user: 'server' });
    expect(h.lastReply()).not.toContain('OpenRouter key');
    expect(keyReads()).toBe(2);
  });

  it('alerts once when the key credit falls below KEY_CREDIT_ALERT_USD, across watchers on one store', async () => {
    const env = { KEY_CREDIT_ALERT_USD: '5', BUDGET_ALERT_CHANNEL: 'test:C-ALERTS' };
    const run = async (remaining: number, watchers: number, asks: number) => {
      app = await startTestApp({ env });
      app.openrouter.key = { ...app.openrouter.key, limit: 100, limit_remaining: remaining };
      const recorders = Array.from({ length: watchers }, () => recordingAdapter('test'));
      const watches = recorders.map((r) => watchKeyCredit(app.core, [r.adapter]));
      const h = createHarness(app.core);
      for (let i = 0; i < asks; i++) {
        app.openrouter.enqueue({ text: ['ok'], usage: { cost: 0.01 } });
        await h.run(ada, 'ask', undefined, { prompt: 'spend' });
        for (const w of watches) await w.idle();
      }
      // A watcher started later (a restart, another process) stays quiet: the store remembers the month.
      const late = recordingAdapter('test');
      const lateWatch = watchKeyCredit(app.core, [late.adapter]);
      app.openrouter.enqueue({ text: ['ok'], usage: { cost: 0.01 } });
      await h.run(ada, 'ask', undefined, { prompt: 'spend' });
      await lateWatch.idle();
      for (const w of [...watches, lateWatch]) w.close();
      return [...recorders.flatMap((r) => r.posts), ...late.posts];
    };

    const above = await run(6, 2, 2);
    expect(above).toEqual([]);
    await app.close();

    const below = await run(4.5, 2, 3);
    expect(below).toHaveLength(1);
    expect(below[0]!.channelId).toBe('C-ALERTS');
    expect(below[0]!.text).toContain('**OpenRouter credit alert:** the key has $4.50 left of its $100.00 limit, below the $5.00 set in KEY_CREDIT_ALERT_USD.');
    expect(app.openrouter.requests.filter((r) => r.path === '/key')).toHaveLength(1);
  });

  it('/usage last shows the last answer as OpenRouter recorded it, and says so when there is none or OpenRouter does not know it', async () => {
    app = await startTestApp();
    app.openrouter.cacheSessions = true;
    const h = createHarness(app.core);
    await h.run(ada, 'usage', undefined, { user: 'last' });
    expect(h.lastReply()).toBe('You have no answer on record yet that OpenRouter could tell about.');

    app.openrouter.enqueue({ text: ['one'], id: 'gen-first' });
    await h.run(ada, 'ask', undefined, { prompt: 'first question' });
    app.openrouter.enqueue({ text: ['two'], id: 'gen-second', usage: { prompt_tokens: 1200, completion_tokens: 40, reasoning_tokens: 12, cached_tokens: 1000, cost: 0.0042 } });
    await h.run(ada, 'ask', undefined, { prompt: 'second question' });
    await h.run(ada, 'usage', undefined, { user: 'last' });
    const reply = h.lastReply();
    expect(reply).toContain('`gen-second`');
    expect(reply).toContain('Model: `openai/gpt-4o-mini` · provider: Fake');
    expect(reply).toContain('Native tokens: 1,200 in (1,000 cached) / 40 out (12 reasoning)');
    expect(reply).toMatch(/Cost: \$0\.0042 · latency: \d+\.\d s/);
    expect(app.openrouter.requests.at(-1)!.query.get('id')).toBe('gen-second');

    app.openrouter.generations.delete('gen-second');
    await h.run(ada, 'usage', undefined, { user: 'last' });
    expect(h.lastReply()).toContain('OpenRouter does not know your last answer (`gen-second`');
  });
});
