/**
 * ChatAdapter.markInterrupted on each platform, against the fakes: the note
 * ends the message, buttons go, a second call changes nothing, a message that
 * is gone is not an error.
 */
import { webApi } from '@slack/bolt';
import { Routes } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { INTERRUPTED_NOTE } from '../../src/core/recovery.ts';
import { buttonRow, messageRef } from '../../src/platforms/discord/surface.ts';
import { slackMessageRef } from '../../src/platforms/slack/surface.ts';
import { startHarness as startDiscord, type Harness as DiscordHarness } from './discord/harness.ts';
import { CHANNEL, startHarness as startSlack, type Harness as SlackHarness } from './slack/harness.ts';

describe('markInterrupted on Discord', () => {
  let h: DiscordHarness;
  afterEach(async () => {
    await h.close();
  });

  it('ends the message with the note through the channel route, removes buttons and is idempotent', async () => {
    h = await startDiscord();
    const channelId = h.fake.channels.general.id;
    const posted = (await h.adapter.client.rest.post(Routes.channelMessages(channelId), {
      body: { content: 'Half an answer ▍', components: buttonRow([{ id: 'stop', label: 'Stop' }], 'req-1'), allowed_mentions: { parse: [] } },
    })) as { id: string };
    const ref = messageRef(channelId, posted.id);

    await h.adapter.markInterrupted!(ref, { body: 'Half an answer', note: INTERRUPTED_NOTE });
    const message = h.fake.botMessages(channelId).find((m) => m.id === posted.id)!;
    expect(message.content).toBe(`Half an answer\n\n${INTERRUPTED_NOTE}`);
    expect(message.components).toEqual([]);
    expect(message.allowedMentions).toEqual({ parse: [] });
    const edits = message.history.length;

    await h.adapter.markInterrupted!(ref, { body: 'Half an answer', note: INTERRUPTED_NOTE });
    expect(message.history).toHaveLength(edits);

    h.fake.deleteMessage(posted.id);
    await expect(h.adapter.markInterrupted!(ref, { body: 'Half an answer', note: INTERRUPTED_NOTE })).resolves.toBeUndefined();
    expect(h.fake.violations).toEqual([]);
  });
});

describe('markInterrupted on Slack', () => {
  let h: SlackHarness;
  afterEach(async () => {
    await h.close();
  });

  it('updates a posted answer (buttons removed) once, and closes an open stream with the note', async () => {
    h = await startSlack({ mode: 'socket' });
    const client = { markInterrupted: (ref: string, note: string, body: string | null = 'Half an answer') => h.adapter.markInterrupted!(ref, { body, note }) };
    const thread = h.fake.addUserMessage({ user: 'U0ALICE', channel: CHANNEL, text: 'question' });

    const web = new webApi.WebClient(h.fake.botToken, { slackApiUrl: h.fake.apiUrl, retryConfig: { retries: 0 } });
    // A post/edit answer: section text with the cursor, and the Stop button.
    const { ts } = (await web.chat.postMessage({
      channel: CHANNEL,
      thread_ts: thread.ts,
      text: 'Half an answer ▍',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: 'Half an answer ▍' } },
        { type: 'actions', elements: [{ type: 'button', action_id: 'switchboard_stop', text: { type: 'plain_text', text: 'Stop' }, value: 'r' }] },
      ],
    })) as { ts: string };
    const ref = slackMessageRef({ channel: CHANNEL, ts, thread: thread.ts });
    await client.markInterrupted(ref, INTERRUPTED_NOTE);
    const message = h.fake.botMessages(CHANNEL, thread.ts).find((m) => m.ts === ts)!;
    // The recorded body, then the note (Slack shows them as separate blocks).
    expect(message.text.replace(/\n+/g, '\n')).toBe(`Half an answer\n${INTERRUPTED_NOTE}`);
    expect(h.fake.visibleText(message).replace(/\n+/g, '\n')).toBe(`Half an answer\n${INTERRUPTED_NOTE}`);
    expect(message.blocks?.some((b) => b.type === 'actions')).toBe(false);
    // A second sweep's mark changes nothing (no second update).
    await client.markInterrupted(ref, INTERRUPTED_NOTE);
    expect(message.updates).toBe(1);

    // An open native stream is closed with the note; its Thinking…/Stop message goes.
    const control = (await web.chat.postMessage({ channel: CHANNEL, thread_ts: thread.ts, text: 'Thinking…' })) as { ts: string };
    const stream = (await web.chat.startStream({ channel: CHANNEL, thread_ts: thread.ts, markdown_text: 'Streamed so far' })) as { ts: string };
    await client.markInterrupted(
      slackMessageRef({ channel: CHANNEL, ts: stream.ts, thread: thread.ts, control: control.ts, streaming: true }),
      INTERRUPTED_NOTE,
      'Streamed so far',
    );
    const streamed = h.fake.botMessages(CHANNEL, thread.ts).find((m) => m.ts === stream.ts)!;
    expect(streamed.streaming).toBe(false);
    expect(streamed.text.replace(/\n+/g, '\n')).toBe(`Streamed so far\n${INTERRUPTED_NOTE}`);
    expect(h.fake.botMessages(CHANNEL, thread.ts).some((m) => m.ts === control.ts)).toBe(false);

    // Gone: nothing to do.
    await expect(client.markInterrupted(slackMessageRef({ channel: CHANNEL, ts: '1.000001', thread: thread.ts }), INTERRUPTED_NOTE)).resolves.toBeUndefined();
    expect(h.fake.violations).toEqual([]);
  });
});
