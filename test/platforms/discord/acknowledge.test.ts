/**
 * An acknowledgement whose answer is lost (Discord, or a proxy in between,
 * applied it and then failed: a 5xx, a reset, a timeout): discord.js sends it
 * again, Discord refuses the copy with 40060, and the answer must still come,
 * once.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { answerText, hasFooter, startHarness, type Harness } from './harness.ts';

let h: Harness;
const CALLBACK = /^\/interactions\/\d+\/[^/]+\/callback$/;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.violations.length = 0;
  h.app.openrouter.reset();
});
afterEach(async () => {
  await h.adapter.idle();
});

function callbacks(interactionId: string): number {
  return h.fake.requests.filter((r) => r.method === 'POST' && CALLBACK.test(r.path) && r.path.includes(`/${interactionId}/`)).length;
}

describe('an acknowledgement whose answer was lost', () => {
  it('/ask: the deferral landed, its answer was a 502, the copy is refused as already acknowledged; the answer still streams, once', async () => {
    h.app.openrouter.enqueue({ text: ['The answer ', 'arrives anyway.'] });
    h.fake.failNext({ method: 'POST', path: CALLBACK, status: 502, applied: true, body: { message: 'Bad Gateway', code: 0 } });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'ask', options: { prompt: 'hello' } });
    await h.adapter.idle();

    expect(callbacks(interaction.id)).toBe(2);
    // The fake notes the second copy; nothing else went wrong.
    expect(h.fake.violations).toEqual([`interaction ${interaction.id} acknowledged twice`]);
    expect(interaction.ackType).toBe(5);
    const messages = h.fake.interactionMessages(interaction);
    expect(messages).toHaveLength(1);
    expect(answerText(messages[0]!.content)).toBe('The answer arrives anyway.');
    expect(hasFooter(messages[0]!.content)).toBe(true);
  });

  it('a private /ask keeps its deferral private when the copy is refused', async () => {
    h.app.openrouter.enqueue({ text: ['Just for you.'] });
    h.fake.failNext({ method: 'POST', path: CALLBACK, status: 500, applied: true });
    const interaction = await h.fake.runCommand({
      user: h.fake.users.bob,
      channelId: h.fake.channels.general.id,
      name: 'ask',
      options: { prompt: 'quietly', private: true },
    });
    await h.adapter.idle();

    expect(callbacks(interaction.id)).toBe(2);
    expect(interaction.ephemeral).toBe(true);
    const messages = h.fake.interactionMessages(interaction);
    expect(messages.map((m) => answerText(m.content))).toEqual(['Just for you.']);
    expect(messages[0]!.ephemeralFor).toBe(h.fake.users.bob.id);
  });
});
