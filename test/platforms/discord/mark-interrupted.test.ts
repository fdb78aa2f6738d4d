/**
 * Crash recovery on Discord: markInterrupted ends a message a dead process
 * left half-written with the answer's recorded text and the note, through the
 * channel route, buttons removed, no pings; repeating it changes nothing.
 */
import { Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_NOTE } from '../../../src/core/recovery.ts';
import { buttonRow, messageRef } from '../../../src/platforms/discord/surface.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function halfAnswer(channelId: string, content: string): Promise<string> {
  const posted = (await h.adapter.client.rest.post(Routes.channelMessages(channelId), {
    body: { content, components: buttonRow([{ id: 'stop', label: 'Stop' }], 'req-1'), allowed_mentions: { parse: [] } },
  })) as { id: string };
  return posted.id;
}

describe('markInterrupted on Discord', () => {
  it('shows the recorded body, not what the message showed, then the note; buttons go; a repeat changes nothing', async () => {
    const channelId = h.fake.channels.general.id;
    const id = await halfAnswer(channelId, 'Half an answer ▍\n\n🔧 Using the calculator…');
    const ref = messageRef(channelId, id);

    await h.adapter.markInterrupted!(ref, { body: 'Half an answer', note: INTERRUPTED_NOTE });
    const message = h.fake.botMessages(channelId).find((m) => m.id === id)!;
    expect(message.content).toBe(`Half an answer\n\n${INTERRUPTED_NOTE}`);
    expect(message.components).toEqual([]);
    expect(message.allowedMentions).toEqual({ parse: [] });
    const edits = message.history.length;

    await h.adapter.markInterrupted!(ref, { body: 'Half an answer', note: INTERRUPTED_NOTE });
    expect(message.history).toHaveLength(edits);
    expect(h.fake.violations).toEqual([]);
  });

  it('keeps no answer text when none was recorded, and a deleted message is not an error', async () => {
    const channelId = h.fake.channels.general.id;
    const id = await halfAnswer(channelId, '…thinking');
    await h.adapter.markInterrupted!(messageRef(channelId, id), { body: null, note: INTERRUPTED_NOTE });
    expect(h.fake.message(id)!.content).toBe(INTERRUPTED_NOTE);

    h.fake.deleteMessage(id);
    await expect(h.adapter.markInterrupted!(messageRef(channelId, id), { body: null, note: INTERRUPTED_NOTE })).resolves.toBeUndefined();
    expect(h.fake.violations).toEqual([]);
  });
});
