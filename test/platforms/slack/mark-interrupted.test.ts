/**
 * Crash recovery's markInterrupted on Slack, with the ending as data: the
 * recorded body (or none) and the note, written over whatever the message
 * showed, buttons removed.
 */
import { webApi } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import { INTERRUPTED_NOTE } from '../../../src/core/recovery.ts';
import { slackMessageRef } from '../../../src/platforms/slack/surface.ts';
import { ALICE, CHANNEL, startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const stopButton = { type: 'actions', elements: [{ type: 'button', action_id: 'switchboard_stop', text: { type: 'plain_text', text: 'Stop' }, value: 'r' }] };

describe('markInterrupted on Slack', () => {
  it('shows the recorded body and the note, buttons removed; a repeated mark does not update again', async () => {
    h = await startHarness();
    const web = new webApi.WebClient(h.fake.botToken, { slackApiUrl: h.fake.apiUrl, retryConfig: { retries: 0 } });
    const thread = h.fake.addUserMessage({ user: ALICE, channel: CHANNEL, text: 'question' });
    const { ts } = (await web.chat.postMessage({
      channel: CHANNEL,
      thread_ts: thread.ts,
      text: 'Half an answer ▍',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'Half an answer ▍' } }, { type: 'context', elements: [{ type: 'mrkdwn', text: '🔧 searching' }] }, stopButton],
    })) as { ts: string };
    const ref = slackMessageRef({ channel: CHANNEL, ts, thread: thread.ts });
    for (let i = 0; i < 2; i++) {
      await h.adapter.markInterrupted!(ref, { body: 'Half an answer', note: INTERRUPTED_NOTE });
      const message = h.fake.botMessages(CHANNEL, thread.ts).find((m) => m.ts === ts)!;
      expect(message.text).toBe(`Half an answer\n\n${INTERRUPTED_NOTE}`);
      expect(h.fake.visibleText(message)).toBe(`Half an answer\n${INTERRUPTED_NOTE}`);
      expect(message.blocks?.some((b) => b.type === 'actions')).toBe(false);
      // A second sweep finds the note's block and changes nothing.
      expect(message.updates).toBe(1);
    }
    expect(h.fake.violations).toEqual([]);
  });

  it('keeps no answer text when none was recorded, and keeps the /ask header of a first message', async () => {
    h = await startHarness();
    const web = new webApi.WebClient(h.fake.botToken, { slackApiUrl: h.fake.apiUrl, retryConfig: { retries: 0 } });
    const { ts } = (await web.chat.postMessage({ channel: CHANNEL, text: '…thinking', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '…thinking' } }, stopButton] })) as { ts: string };
    await h.adapter.markInterrupted!(slackMessageRef({ channel: CHANNEL, ts, header: 'Alice asked: why?' }), { body: null, note: INTERRUPTED_NOTE });
    const message = h.fake.botMessages(CHANNEL).find((m) => m.ts === ts)!;
    expect(h.fake.visibleText(message)).toBe(`Alice asked: why?\n${INTERRUPTED_NOTE}`);
    expect(message.blocks?.some((b) => b.type === 'actions')).toBe(false);
  });

  it('closes an open stream with the note (all streamed text kept), removes the Thinking…/Stop message; a stream that never started leaves the note there', async () => {
    h = await startHarness();
    const web = new webApi.WebClient(h.fake.botToken, { slackApiUrl: h.fake.apiUrl, retryConfig: { retries: 0 } });
    const thread = h.fake.addUserMessage({ user: ALICE, channel: CHANNEL, text: 'question' });
    const control = (await web.chat.postMessage({ channel: CHANNEL, thread_ts: thread.ts, text: 'Thinking…' })) as { ts: string };
    const stream = (await web.chat.startStream({ channel: CHANNEL, thread_ts: thread.ts, markdown_text: 'Streamed so far' })) as { ts: string };
    const ref = slackMessageRef({ channel: CHANNEL, ts: stream.ts, thread: thread.ts, control: control.ts, streaming: true });
    await web.chat.appendStream({ channel: CHANNEL, ts: stream.ts, markdown_text: ' and more' });
    // The record lags behind the stream (it is written at intervals): the stream keeps what it showed.
    await h.adapter.markInterrupted!(ref, { body: 'Streamed so far', note: INTERRUPTED_NOTE });
    const streamed = h.fake.botMessages(CHANNEL, thread.ts).find((m) => m.ts === stream.ts)!;
    expect(streamed.streaming).toBe(false);
    expect(streamed.text).toBe(`Streamed so far and more\n\n${INTERRUPTED_NOTE}`);
    expect(streamed.updates).toBe(0);
    expect(h.fake.botMessages(CHANNEL, thread.ts).some((m) => m.ts === control.ts)).toBe(false);

    const lone = (await web.chat.postMessage({ channel: CHANNEL, thread_ts: thread.ts, text: 'Thinking…', blocks: [stopButton] })) as { ts: string };
    await h.adapter.markInterrupted!(slackMessageRef({ channel: CHANNEL, thread: thread.ts, control: lone.ts }), { body: null, note: INTERRUPTED_NOTE });
    const noted = h.fake.botMessages(CHANNEL, thread.ts).find((m) => m.ts === lone.ts)!;
    expect(h.fake.visibleText(noted)).toBe(INTERRUPTED_NOTE);

    // Gone: nothing to do.
    await expect(h.adapter.markInterrupted!(slackMessageRef({ channel: CHANNEL, ts: '1.000001', thread: thread.ts }), { body: 'x', note: INTERRUPTED_NOTE })).resolves.toBeUndefined();
    expect(h.fake.violations).toEqual([]);
  });
});
