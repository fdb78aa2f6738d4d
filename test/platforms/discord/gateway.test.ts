/**
 * Gateway resilience: a reconnect (RECONNECT or a dropped socket) resumes the
 * session; answers streaming meanwhile go on (they use REST), and events sent
 * while the socket was down arrive after the resume.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { answerText, hasFooter, longText, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
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

describe('gateway reconnects', () => {
  it.each(['op7', 'drop'] as const)('loses no answer in progress and no event sent while down (%s)', async (mode) => {
    const general = h.fake.channels.general.id;
    const { full, parts } = longText(1500, 20);
    h.app.openrouter.enqueue({ text: parts, chunkDelayMs: 8 });
    expect(h.adapter.connected()).toBe(true);
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'ask', options: { prompt: 'long' } });
    await waitFor(() => h.fake.message(interaction.originalId!)?.content.startsWith('word'), 'the first text');

    const resumesBefore = h.fake.gateway.resumes;
    let whileDown = '';
    await h.fake.gateway.reconnect(mode, () => {
      whileDown = h.fake.sendMessage({ user: h.fake.users.bob, channelId: general, content: `<@${h.fake.bot.id}> sent while you were away` }).id;
    });
    expect(h.fake.gateway.resumes).toBe(resumesBefore + 1);
    expect(h.fake.gateway.identifies).toBe(1);

    const reply = await waitFor(() => h.fake.botMessages(general).find((m) => m.message_reference?.message_id === whileDown), 'the missed mention');
    await waitFor(() => h.app.core.pipeline.running() === 0, 'both answers');
    await h.adapter.idle();
    const answer = h.fake.interactionMessages(interaction);
    expect(answer.map((m) => answerText(m.content)).join(' ').replace(/\s+/g, ' ')).toBe(full.replace(/\s+/g, ' '));
    expect(hasFooter(answer.at(-1)!.content)).toBe(true);
    expect(h.fake.message(reply.id)!.content).toMatch(/^You said: sent while you were away/);
    expect(h.adapter.connected()).toBe(true);
    expect(h.fake.violations).toEqual([]);
  });
});
