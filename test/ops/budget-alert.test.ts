/**
 * The monthly budget alert on a real core: posted once, in the configured
 * channel, when the workspace passes its share of the budget; remembered in
 * the store so a second process (or a restart) stays quiet. The Slack adapter
 * posts it with chat.postMessage and no mentions.
 */
import { describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../src/core/types.ts';
import { budgetAlertText, watchBudget } from '../../src/ops/budget-alert.ts';
import { CHANNEL, startHarness } from '../platforms/slack/harness.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp } from '../helpers/test-app.ts';

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

describe('budget alert', () => {
  it('tells the admins once a month when a workspace passes its share of the budget', async () => {
    const t = await startTestApp({
      env: { QUOTA_SERVER_USD_PER_MONTH: '1', BUDGET_ALERT_SHARE: '0.5', BUDGET_ALERT_CHANNEL: 'test:C-ALERTS,slack:C-OTHER' },
    });
    try {
      const { adapter, posts } = recordingAdapter('test');
      const watch = watchBudget(t.core, [adapter]);
      const h = createHarness(t.core);
      const ask = async (user: string, cost: number, workspaceId = 'w1') => {
        t.openrouter.enqueue({ text: ['ok'], usage: { prompt_tokens: 10, completion_tokens: 2, cost } });
        await h.run({ id: user, name: user }, 'ask', undefined, { prompt: 'spend' }, { workspaceId });
        await watch.idle();
      };
      await ask('u1', 0.3);
      expect(posts).toEqual([]);
      await ask('u2', 0.25);
      expect(posts).toHaveLength(1);
      expect(posts[0]!.channelId).toBe('C-ALERTS');
      expect(posts[0]!.text).toContain('**Budget alert** (test workspace w1): $0.55 of the $1.00 monthly budget is spent');
      expect(posts[0]!.text).toContain('(55%; the alert is set at 50%)');
      await ask('u1', 0.1);
      expect(posts).toHaveLength(1);

      // Another process on the same store (a fresh watcher) stays quiet: the store remembers.
      const other = recordingAdapter('test');
      const watch2 = watchBudget(t.core, [other.adapter]);
      await ask('u3', 0.05);
      await watch2.idle();
      expect(other.posts).toEqual([]);
      expect(posts).toHaveLength(1);
      const month = new Date().toISOString().slice(0, 7);
      expect(JSON.parse((await t.core.store.getMeta(`budget-alert:test:w1:${month}`))!)).toMatchObject({ channelId: 'C-ALERTS', budgetUsd: 1 });

      // Another workspace below its share: nothing.
      await ask('u4', 0.2, 'w2');
      expect(posts).toHaveLength(1);
      watch.close();
      watch2.close();
    } finally {
      await t.close();
    }
  });

  it('only logs when no channel is configured for the platform, and does nothing without a budget', async () => {
    const t = await startTestApp({ env: { QUOTA_SERVER_USD_PER_MONTH: '0.1' } });
    try {
      const { adapter, posts } = recordingAdapter('test');
      const watch = watchBudget(t.core, [adapter]);
      const h = createHarness(t.core);
      t.openrouter.enqueue({ text: ['ok'], usage: { cost: 0.09 } });
      await h.run({ id: 'u1', name: 'u1' }, 'ask', undefined, { prompt: 'spend' });
      await watch.idle();
      expect(posts).toEqual([]);
      expect(t.logs.some((l) => String(l.msg).includes('BUDGET_ALERT_CHANNEL names no channel'))).toBe(true);
      watch.close();
    } finally {
      await t.close();
    }
  });

  it('is posted on Slack with chat.postMessage and no mentions', async () => {
    const slack = await startHarness();
    try {
      const text = budgetAlertText({ platform: 'slack', workspaceId: 'T0FAKE', month: '2026-11', spent: 8.5, budget: 10, share: 0.8 });
      await slack.adapter.postToChannel!(CHANNEL, `${text} @channel <!here>`);
      const [call] = slack.fake.callsOf('chat.postMessage');
      expect(call?.args).toMatchObject({ channel: CHANNEL, link_names: 'false', parse: 'none' });
      const [message] = slack.fake.botMessages(CHANNEL);
      expect(slack.fake.visibleText(message!)).toContain('*Budget alert* (slack workspace T0FAKE): $8.50 of the $10.00 monthly budget');
      expect(slack.fake.violations).toEqual([]);
    } finally {
      await slack.close();
    }
  });
});
