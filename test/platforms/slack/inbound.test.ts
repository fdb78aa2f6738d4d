/**
 * The Slack adapter on the core's one path in: duplicates, buttons it does
 * not know, Stop by someone else, thread history from answer records, and a
 * channel-wide /new reaching into threads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, CHANNEL, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const CONTROL = 'switchboard_control';
const conversationOf = (harness: Harness, index: number) =>
  harness.app.openrouter.chatRequests()[index]!.body!.messages.filter((m) => m.role !== 'system');

describe('Slack inbound events through the core', () => {
  it('answers a slash command delivered twice with one trigger_id once', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Only once.'] }, { text: ['Twice?!'] });
    const first = await h.fake.slashCommand({ command: '/ask', text: 'say it once', user: ALICE, channel: CHANNEL });
    const again = await h.fake.deliver('slash_commands', first.payload!);
    expect([first.status, again.status]).toEqual([200, 200]);
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
    expect(h.fake.botMessages(CHANNEL)).toHaveLength(1);
    expect(h.fake.ephemerals).toHaveLength(0);
    expect(h.fake.violations).toEqual([]);
  });

  it('acks a button this version does not know and tells the presser privately that it no longer works', async () => {
    h = await startHarness();
    const message = h.fake.addUserMessage({ user: ALICE, channel: CHANNEL, text: 'an old answer' });
    for (const actionId of ['switchboard_regenerate', 'legacy_approve']) {
      const started = Date.now();
      const click = await h.fake.clickButton({ user: ALICE, channel: CHANNEL, messageTs: message.ts, actionId, value: 'req-old' });
      expect(click.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(3000);
    }
    await h.adapter.idle();
    expect(h.fake.ephemerals.map((e) => [e.text, e.body.response_type])).toEqual([
      ['This button no longer works.', 'ephemeral'],
      ['This button no longer works.', 'ephemeral'],
    ]);
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('refuses, privately, Stop pressed beside a stream by someone other than the asker', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Chapter one'], hang: 'after-text' });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> a long story' });
    const harness = h;
    const control = await waitFor(
      () => harness.fake.botMessages(CHANNEL, mention.ts).find((m) => m.blocks?.some((b) => b.block_id === CONTROL)),
      3000,
      'the stop button',
    );
    const value = String(control.blocks!.find((b) => b.type === 'actions')!.elements![0]!.value);
    await h.fake.clickButton({ user: BOB, channel: CHANNEL, messageTs: control.ts, actionId: 'switchboard_stop', value, threadTs: mention.ts });
    const refusal = await waitFor(() => harness.fake.ephemerals.find((e) => /Only the person who asked/.test(e.text)), 3000, 'the refusal');
    expect(refusal.body.response_type).toBe('ephemeral');
    expect(h.app.core.pipeline.ownerOf(value)).toBe(ALICE);

    await h.fake.clickButton({ user: ALICE, channel: CHANNEL, messageTs: control.ts, actionId: 'switchboard_stop', value, threadTs: mention.ts });
    await h.adapter.idle();
    expect(h.app.core.pipeline.ownerOf(value)).toBeUndefined();
    const answer = h.fake.botMessages(CHANNEL, mention.ts).find((m) => m.origin === 'stream')!;
    expect(h.fake.visibleText(answer)).toContain('Stopped by Alice');
  });

  it('reads earlier answers in a thread from their records: no footer, status or thinking message reaches the model', async () => {
    h = await startHarness();
    // Posted and updated (no native stream): the message itself shows the footer.
    h.fake.streams.mode = 'unsupported';
    h.app.openrouter.enqueue({ text: ['Try ', 'the pasta.'] }, { text: ['Then the risotto.'] });
    const first = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> what should I eat?' });
    await h.adapter.idle();
    const shown = h.fake.botMessages(CHANNEL, first.ts);
    expect(shown.map((m) => h!.fake.visibleText(m)).join('\n')).toMatch(/gpt-4o-mini · \d+ in/);

    await h.fake.mention({ user: ALICE, channel: CHANNEL, threadTs: first.ts, text: '<@U0BOT> and after?' });
    await h.adapter.idle();
    const messages = conversationOf(h, 1);
    expect(messages.filter((m) => m.role === 'assistant')).toEqual([{ role: 'assistant', content: 'Try the pasta.' }]);
    const sent = JSON.stringify(messages);
    for (const ours of ['gpt-4o-mini', '…thinking', 'Thinking…', '▍', 'is thinking']) expect(sent).not.toContain(ours);
    expect(h.fake.violations).toEqual([]);
  });

  it('/new in a channel: the next mention in an existing thread there gets none of the earlier thread messages', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Try the pasta.'] }, { text: ['Fresh start.'] });
    const first = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> what should I eat?' });
    await h.adapter.idle();
    h.fake.addUserMessage({ user: BOB, channel: CHANNEL, threadTs: first.ts, text: 'pizza!' });

    await h.fake.slashCommand({ command: '/new', text: '', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)!.text).toMatch(/Starting afresh in this channel/);

    await h.fake.mention({ user: ALICE, channel: CHANNEL, threadTs: first.ts, text: '<@U0BOT> what now?' });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(2);
    const messages = conversationOf(h, 1);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ role: 'user' });
    expect(String(messages[0]!.content)).toContain('what now?');
  });
});
