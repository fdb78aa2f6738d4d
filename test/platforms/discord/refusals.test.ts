/**
 * Refusals stay private: a quota refusal to a mention in a server channel
 * (which everyone in the channel reads) names the limit and when it resets,
 * never the asker's spending; a DM, where only the asker reads, gets the amounts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { QUOTA_DEFAULT_USD_PER_DAY: '0' } });
});
afterAll(async () => {
  await h?.close();
});

describe('refusals stay private', () => {
  it('a quota refusal to a mention in a channel says which limit and when it resets, but not the spending', async () => {
    const general = h.fake.channels.general.id;
    const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${h.fake.bot.id}> an expensive question` });
    const reply = await waitFor(() => h.fake.botMessages(general).find((m) => m.message_reference?.message_id === question.id), 'the refusal');
    await h.adapter.idle();
    expect(reply.content).toContain('You have reached your daily spending limit.');
    expect(reply.content).toMatch(/It resets \d{4}-\d\d-\d\d 00:00 UTC/);
    expect(reply.content).not.toMatch(/\$\d/);
    expect(reply.content).not.toContain('used of');
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('in a DM, where only the asker reads, the refusal carries the amounts', async () => {
    const dm = h.fake.dmChannel(h.fake.users.alice);
    h.fake.sendMessage({ user: h.fake.users.alice, channelId: dm.id, content: 'an expensive question' });
    const reply = await waitFor(() => h.fake.botMessages(dm.id).at(-1), 'the refusal in the DM');
    await h.adapter.idle();
    expect(reply.content).toMatch(/You have reached your daily spending limit: \$0 used of \$0/);
  });
});

describe('cheap refusals first', () => {
  it('a reply to an answer by someone past their quota is refused before the reply chain is read', async () => {
    const t = await startHarness({ env: { QUOTA_DEFAULT_REQUESTS_PER_DAY: '1' } });
    try {
      const general = t.fake.channels.general.id;
      const question = t.fake.sendMessage({ user: t.fake.users.bob, channelId: general, content: `<@${t.fake.bot.id}> first` });
      const answer = await waitFor(() => t.fake.botMessages(general).find((m) => m.message_reference?.message_id === question.id), 'the answer');
      await waitFor(() => t.app.core.pipeline.running() === 0 && !answer.content.includes('▍'), 'the answer to finish');
      await t.adapter.idle();
      const reads: string[] = [];
      const stop = t.fake.onRequest((request) => {
        if (request.method === 'GET' && request.path.includes('/messages/')) reads.push(request.path);
      });
      const reply = t.fake.sendMessage({ user: t.fake.users.bob, channelId: general, content: 'and more?', replyTo: answer.id });
      const refusal = await waitFor(() => t.fake.botMessages(general).find((m) => m.message_reference?.message_id === reply.id), 'the refusal');
      await t.adapter.idle();
      stop();
      expect(refusal.content).toContain('daily request limit');
      expect(reads).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
