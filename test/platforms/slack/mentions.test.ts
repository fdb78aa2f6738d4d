import { afterEach, describe, expect, it } from 'vitest';
import type { FakeMessage } from '../../fakes/slack.ts';
import { ALICE, BOB, CHANNEL, DM_CHANNEL, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const answersIn = (harness: Harness, threadTs: string): FakeMessage[] =>
  harness.fake.botMessages(CHANNEL, threadTs).filter((m) => !m.blocks?.some((b) => b.block_id === 'switchboard_control'));

describe('Slack mentions, threads and DMs (HTTP mode, real Bolt)', () => {
  it('sends text that arrived during a pacing interval once the interval passes, even when the model then pauses', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['First ', 'second ', 'third.'], chunkDelayMs: 5, hang: 'after-text' });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> think slowly' });
    const harness = h;
    // The model is silent after "third.": no append or stop will carry it, the paced flush must.
    await waitFor(() => answersIn(harness, mention.ts!).find((m) => m.streaming && m.text.includes('First second third.')), 5000, 'the buffered text');
    expect(h.fake.calls.filter((c) => c.method === 'chat.appendStream').length).toBeGreaterThanOrEqual(1);
    h.app.core.pipeline.stop({ platform: 'slack' }, 'test');
    await h.adapter.idle();
    expect(h.fake.violations).toEqual([]);
  });

  it("does not hold a first-time asker's answer for their name outside threads, and names them in a shared thread", async () => {
    h = await startHarness();
    const harness = h;
    // Slack is slow to say who Alice is: the answer starts anyway, since no one else is in the conversation.
    const lookup = h.fake.holdNext('users.info');
    h.app.openrouter.enqueue({ text: ['Hello ', 'there.'] });
    const first = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> hi' });
    await lookup.arrived;
    await waitFor(() => answersIn(harness, first.ts!).find((m) => m.text === 'Hello there.' && !m.streaming), 5000, 'the answer while users.info hangs');
    expect(h.fake.callsOf('users.info')).toHaveLength(0);
    lookup.release();
    await h.adapter.idle();
    expect(h.fake.callsOf('users.info').map((c) => c.args.user)).toEqual([ALICE]);

    // In a thread where Bob has spoken too, the model must know who says what: names are waited for.
    const bobLookup = h.fake.holdNext('users.info');
    h.fake.addUserMessage({ user: BOB, channel: CHANNEL, text: 'I think 42.', threadTs: first.ts });
    h.app.openrouter.enqueue({ text: ['Agreed.'] });
    await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> and you?', threadTs: first.ts });
    await bobLookup.arrived;
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
    bobLookup.release();
    await h.adapter.idle();
    const messages = h.app.openrouter.chatRequests()[1]!.body!.messages;
    expect(messages.at(-1)).toMatchObject({ role: 'user', content: 'Alice: and you?' });
    expect(messages).toContainEqual(expect.objectContaining({ role: 'user', content: 'Bob: I think 42.' }));
    expect(h.fake.violations).toEqual([]);
  });

  it('answers a mention in a thread under it, streamed with chat.startStream/appendStream/stopStream', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Streams ', 'arrive ', 'in ', 'pieces.'], chunkDelayMs: 40 });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> how do streams work?' });
    expect(mention.status).toBe(200);

    // The thinking/stop message shows first, in the thread.
    const control = await waitFor(
      () => h!.fake.botMessages(CHANNEL, mention.ts).find((m) => m.blocks?.some((b) => b.block_id === 'switchboard_control')),
      3000,
      'the thinking message',
    );
    expect(control.thread_ts).toBe(mention.ts);

    await h.adapter.idle();
    const thread = h.fake.messages(CHANNEL, mention.ts);
    const answers = answersIn(h, mention.ts!);
    expect(answers).toHaveLength(1);
    const answer = answers[0]!;
    expect(answer.origin).toBe('stream');
    expect(answer.thread_ts).toBe(mention.ts);
    expect(answer.streaming).toBe(false);
    expect(answer.text).toBe('Streams arrive in pieces.');
    expect(h.fake.visibleText(answer)).toMatch(/gpt-4o-mini · \d+ in/);
    expect(h.fake.callsOf('chat.appendStream').length).toBeGreaterThanOrEqual(1);
    expect(h.fake.callsOf('chat.startStream')[0]!.args).toMatchObject({ thread_ts: mention.ts, recipient_user_id: ALICE, recipient_team_id: h.fake.teamId });
    // The thinking/stop message is gone, the status was set and cleared.
    expect(thread.filter((m) => m.user === h!.fake.botUserId)).toHaveLength(1);
    expect(h.fake.statuses.map((s) => s.status)).toEqual(['is thinking…', '']);
    expect(h.fake.botMessages(CHANNEL)).toHaveLength(0);
    expect(h.app.openrouter.chatRequests()[0]!.body!.messages.at(-1)).toMatchObject({ role: 'user', content: 'how do streams work?' });
    expect(h.fake.violations).toEqual([]);
  });

  it('continues the conversation in the thread with its history, other people and their names included', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Try the pasta.'] }, { text: ['Then the risotto.'] });
    const first = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> what should I eat?' });
    await h.adapter.idle();
    h.fake.addUserMessage({ user: BOB, channel: CHANNEL, threadTs: first.ts, text: 'I do not eat gluten, <@U0ALICE>' });
    const followUp = await h.fake.mention({ user: ALICE, channel: CHANNEL, threadTs: first.ts, text: '<@U0BOT> and for Bob?' });
    await h.adapter.idle();

    const requests = h.app.openrouter.chatRequests();
    expect(requests).toHaveLength(2);
    const messages = requests[1]!.body!.messages.filter((m) => m.role !== 'system');
    expect(messages).toEqual([
      { role: 'user', content: 'Alice: what should I eat?' },
      { role: 'assistant', content: 'Try the pasta.' },
      { role: 'user', content: 'Bob: I do not eat gluten, @Alice' },
      { role: 'user', content: 'Alice: and for Bob?' },
    ]);
    const answers = answersIn(h, first.ts!);
    expect(answers.map((m) => m.text)).toEqual(['Try the pasta.', 'Then the risotto.']);
    expect(followUp.status).toBe(200);
    // Names come from users.info, cached: one lookup per person.
    const lookups = h.fake.callsOf('users.info').map((c) => c.args.user);
    expect(new Set(lookups).size).toBe(lookups.length);
    expect(h.fake.violations).toEqual([]);
  });

  it('answers an event delivered twice (Slack retry) only once', async () => {
    h = await startHarness();
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> once please' });
    const again = await h.fake.redeliver(mention, 1);
    const third = await h.fake.redeliver(mention, 2);
    expect([again.status, third.status]).toEqual([200, 200]);
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
    expect(answersIn(h, mention.ts!)).toHaveLength(1);
    expect(h.fake.callsOf('chat.startStream')).toHaveLength(1);
  });

  it('falls back to chat.update when the stream expires, keeping the whole text in the same message', async () => {
    h = await startHarness();
    h.fake.streams.expireAfterAppends = 1;
    const chunks = ['Alpha ', 'beta ', 'gamma ', 'delta ', 'epsilon.'];
    h.app.openrouter.enqueue({ text: chunks, chunkDelayMs: 60 });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> letters' });
    await h.adapter.idle();

    const expired = h.fake.calls.filter((c) => c.result.error === 'message_not_in_streaming_state');
    expect(expired.length).toBeGreaterThanOrEqual(1);
    const answers = answersIn(h, mention.ts!);
    expect(answers).toHaveLength(1);
    const answer = answers[0]!;
    expect(answer.origin).toBe('stream');
    expect(h.fake.callsOf('chat.update').filter((c) => c.args.ts === answer.ts).length).toBeGreaterThanOrEqual(1);
    const text = h.fake.visibleText(answer);
    expect(text).toContain('Alpha beta gamma delta epsilon.');
    expect(text).toMatch(/gpt-4o-mini · \d+ in/);
    // No Stop button any more; only the 👍/👎 feedback buttons of a finished answer.
    expect(answer.blocks?.filter((b) => b.type === 'actions').map((b) => b.block_id)).toEqual(['switchboard_feedback']);
    expect(h.fake.violations).toEqual([]);
  });

  it('posts and updates in the thread when streaming is not supported, and stops trying it', async () => {
    h = await startHarness();
    h.fake.streams.mode = 'unsupported';
    h.app.openrouter.enqueue({ text: ['First ', 'answer.'] }, { text: ['Second ', 'answer.'] });
    const one = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> one' });
    await h.adapter.idle();
    const two = await h.fake.mention({ user: BOB, channel: CHANNEL, text: '<@U0BOT> two' });
    await h.adapter.idle();
    expect(h.fake.callsOf('chat.startStream')).toHaveLength(1);
    expect(h.fake.visibleText(answersIn(h, one.ts!)[0]!)).toContain('First answer.');
    expect(h.fake.visibleText(answersIn(h, two.ts!)[0]!)).toContain('Second answer.');
    expect(answersIn(h, two.ts!)).toHaveLength(1);
    expect(h.fake.violations).toEqual([]);
  });

  it('the Stop button beside a stream stops it', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Chapter one'], hang: 'after-text' });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> a long story' });
    await waitFor(() => answersIn(h!, mention.ts!).find((m) => m.text.includes('Chapter one')), 3000, 'the first text');
    const control = h.fake.botMessages(CHANNEL, mention.ts).find((m) => m.blocks?.some((b) => b.block_id === 'switchboard_control'))!;
    const value = String(control.blocks!.find((b) => b.type === 'actions')!.elements![0]!.value);
    await h.fake.clickButton({ user: ALICE, channel: CHANNEL, messageTs: control.ts, actionId: 'switchboard_stop', value, threadTs: mention.ts });
    await h.adapter.idle();
    const answer = answersIn(h, mention.ts!)[0]!;
    expect(answer.text).toBe('Chapter one');
    // The end line is data: a context block under the streamed text, not part of it.
    expect(h.fake.visibleText(answer)).toContain('Stopped by Alice');
    expect(h.fake.botMessages(CHANNEL, mention.ts)).toHaveLength(1);
  });

  it('neutralises mentions in streamed Markdown, even split across deltas', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Hey <!chan', 'nel> and @he', 're, <@U0B', 'OB> & <!subteam^S1|@devs>!'], chunkDelayMs: 30 });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> ping everyone' });
    await h.adapter.idle();
    const answer = answersIn(h, mention.ts!)[0]!;
    expect(answer.text).not.toMatch(/<!|<@/);
    expect(answer.text).toContain('@\u2060channel');
    expect(answer.text).toContain('@\u2060here');
    expect(h.fake.violations).toEqual([]);
  });

  it('answers DMs without a mention and ignores its own messages and message subtypes', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Hello in private.'] });
    const dm = await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'hi bot' });
    await h.adapter.idle();
    const answers = h.fake.botMessages(DM_CHANNEL, dm.ts).filter((m) => m.origin === 'stream');
    expect(answers.map((m) => m.text)).toEqual(['Hello in private.']);

    await h.fake.dm({ user: h.fake.botUserId, channel: DM_CHANNEL, text: 'my own words' });
    await h.fake.deliver('events_api', {
      type: 'event_callback',
      team_id: h.fake.teamId,
      api_app_id: 'A0FAKE',
      event_id: 'EvEDITED',
      event_time: 1,
      event: { type: 'message', subtype: 'message_changed', channel: DM_CHANNEL, channel_type: 'im', ts: '1.000001', hidden: true, message: { user: ALICE, text: 'edited' } },
    });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
  });

  it('tells the asker (ephemerally) when a mention has nothing to ask', async () => {
    h = await startHarness();
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT>' });
    await h.adapter.idle();
    expect(h.fake.ephemerals).toHaveLength(1);
    expect(h.fake.ephemerals[0]).toMatchObject({ via: 'chat.postEphemeral', user: ALICE, thread_ts: mention.ts });
    expect(h.fake.ephemerals[0]!.text).toMatch(/empty/);
    expect(h.fake.botMessages(CHANNEL, mention.ts)).toHaveLength(0);
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('continues a very long streamed answer in a new streamed message', async () => {
    h = await startHarness();
    const chunk = `${'x'.repeat(99)}\n`;
    h.app.openrouter.enqueue({ text: Array.from({ length: 250 }, () => chunk) });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> a novel' });
    await h.adapter.idle();
    const answers = answersIn(h, mention.ts!);
    expect(answers.length).toBeGreaterThanOrEqual(3);
    expect(answers.map((m) => m.text).join('')).toBe(chunk.repeat(250));
    for (const call of h.fake.calls) {
      if (typeof call.args.markdown_text === 'string') expect(call.args.markdown_text.length).toBeLessThanOrEqual(12_000);
    }
    expect(answers.every((m) => !m.streaming)).toBe(true);
    expect(h.fake.visibleText(answers.at(-1)!)).toMatch(/gpt-4o-mini/);
    expect(h.fake.violations).toEqual([]);
  });

  it('answers one message once even when it arrives as two different events', async () => {
    h = await startHarness();
    const dm = await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: '<@U0BOT> hello twice' });
    await h.fake.deliver('events_api', {
      type: 'event_callback',
      team_id: h.fake.teamId,
      api_app_id: 'A0FAKE',
      event_id: 'EvOTHER',
      event_time: 1,
      event: { type: 'app_mention', user: ALICE, text: '<@U0BOT> hello twice', ts: dm.ts, channel: DM_CHANNEL, event_ts: dm.ts },
    });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
  });
});
