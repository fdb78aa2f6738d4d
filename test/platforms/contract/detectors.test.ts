/**
 * The contract's ping check must be able to fail: a message that does ping,
 * sent straight to the fake platform (bypassing the adapter's guards), is
 * reported by the driver. The terminal has no one to ping (see drivers.ts).
 */
import { Routes } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { discordDriver, slackDriver } from './drivers.ts';

describe('contract ping detectors', () => {
  it('Discord: a write allowing @everyone is reported', async () => {
    const driver = discordDriver();
    await driver.start();
    try {
      await driver.ask('hello');
      expect(driver.pingProblems()).toEqual([]);
      const h = driver.harness();
      await h.adapter.client.rest.post(Routes.channelMessages(h.fake.channels.general.id), {
        body: { content: 'hey @everyone', allowed_mentions: { parse: ['everyone'] } },
      });
      expect(driver.pingProblems()).toEqual(expect.arrayContaining([expect.stringMatching(/allowed_mentions/), expect.stringMatching(/pinged @everyone/)]));
    } finally {
      await driver.close();
    }
  });

  it('Slack: a post with <!channel> is reported', async () => {
    const driver = slackDriver();
    await driver.start();
    try {
      await driver.ask('hello');
      expect(driver.pingProblems()).toEqual([]);
      const h = driver.harness();
      const response = await fetch(`${h.fake.apiUrl}chat.postMessage`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.fake.botToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'C0GENERAL', text: 'hey <!channel>' }),
      });
      expect(response.status).toBe(200);
      expect(driver.pingProblems()).toEqual(expect.arrayContaining([expect.stringMatching(/chat\.postMessage.*broadcast mention/)]));
    } finally {
      await driver.close();
    }
  });
});
