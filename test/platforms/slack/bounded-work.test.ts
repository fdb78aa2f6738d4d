/**
 * Bounded work for unbounded input: a message that mentions many people costs
 * a capped number of users.info lookups, and is still answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_NAME_LOOKUPS } from '../../../src/platforms/slack/thread.ts';
import { ALICE, CHANNEL, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

describe('bounded work', () => {
  it('mention-name lookups per message are capped: fifty mentioned users cost at most the cap in users.info calls', async () => {
    h = await startHarness();
    const ids = Array.from({ length: 50 }, (_, i) => `U0MANY${String(i).padStart(3, '0')}`);
    for (const id of ids) h.fake.addUser({ id, name: `person${id}`, realName: `Person ${id}` });
    h.app.openrouter.enqueue({ text: ['Noted.'] });
    await h.fake.mention({ user: ALICE, channel: CHANNEL, text: `<@U0BOT> who are ${ids.map((id) => `<@${id}>`).join(' ')}?` });
    await waitFor(() => h.app.openrouter.chatRequests().length === 1, 5000, 'the answer request');
    await h.adapter.idle();
    const looked = h.fake.callsOf('users.info').filter((call) => ids.includes(String(call.args.user)));
    expect(looked.length).toBeLessThanOrEqual(MAX_NAME_LOOKUPS);
    expect(looked.length).toBeGreaterThan(0);
    // The model still gets every mention, as names where looked up and as ids otherwise.
    const sent = JSON.stringify(h.app.openrouter.chatRequests()[0]!.body!.messages.at(-1));
    expect(sent).toContain(`Person ${ids[0]}`);
  });
});

describe('cheap refusals first', () => {
  it('a mention in a thread by someone past their quota is refused before the thread is read', async () => {
    h = await startHarness({ env: { QUOTA_DEFAULT_REQUESTS_PER_DAY: '1' } });
    h.app.openrouter.enqueue({ text: ['First answer.'] });
    const first = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> first' });
    await h.adapter.idle();
    const readsBefore = h.fake.callsOf('conversations.replies').length;
    await h.fake.mention({ user: ALICE, channel: CHANNEL, threadTs: first.ts, text: '<@U0BOT> and another?' });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)?.text).toMatch(/daily request limit/);
    expect(h.fake.callsOf('conversations.replies').length).toBe(readsBefore);
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
  });
});
