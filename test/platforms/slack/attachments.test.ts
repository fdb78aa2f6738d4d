/**
 * Attachments in, on Slack: files shared with mentions, thread replies and
 * DMs, downloaded from url_private with the bot token (the fake serves them
 * to nobody else) and sent upstream as data URLs, through the real Bolt.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Place } from '../../../src/core/settings.ts';
import { lastUserParts, smallPng, tinyPdf, withVisionModels } from '../../helpers/attachment-files.ts';
import { ALICE, CHANNEL, DM_CHANNEL, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
let png: Buffer;
let place: Place;

beforeAll(async () => {
  h = await startHarness();
  png = await smallPng();
  place = { platform: 'slack', workspaceId: h.fake.teamId, channelId: CHANNEL };
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  h.fake.violations.length = 0;
  h.fake.ephemerals.length = 0;
  h.app.openrouter.reset();
  await withVisionModels(h.app.openrouter, h.app.core.catalog);
  await h.app.core.settings.reset(place, 'server');
});

describe('Slack attachments', () => {
  it('downloads an image with the bot token and sends it as a data URL; url_private refuses anyone without the token', async () => {
    await h.app.core.settings.set(place, 'server', 'model', 'openai/gpt-4o');
    const file = h.fake.uploadFile({ name: 'screen.png', mimetype: 'image/png', data: png });
    await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> what is on screen?', files: [file] });
    await h.adapter.idle();
    expect(lastUserParts(h.app.openrouter)).toEqual([
      { type: 'text', text: 'what is on screen?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
    ]);
    expect(h.fake.fileDownloads.served).toBeGreaterThanOrEqual(1);

    const refusedBefore = h.fake.fileDownloads.refused;
    expect((await fetch(file.url_private_download)).status).toBe(401);
    expect((await fetch(file.url_private_download, { headers: { authorization: 'Bearer xoxb-someone-else' } })).status).toBe(403);
    expect(h.fake.fileDownloads.refused - refusedBefore).toBe(2);
    expect(h.fake.violations).toEqual([]);
  });

  it('refuses an image for a text-only model with vision models and prices, ephemerally, sending nothing', async () => {
    const file = h.fake.uploadFile({ name: 'screen.png', mimetype: 'image/png', data: png });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> and this?', files: [file] });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
    expect(h.fake.ephemerals).toHaveLength(1);
    expect(h.fake.ephemerals[0]).toMatchObject({ user: ALICE, thread_ts: mention.ts });
    expect(h.fake.ephemerals[0]!.text).toContain('cannot see images, so nothing was sent to it.');
    expect(h.fake.ephemerals[0]!.text).toContain('qwen/qwen2.5-vl-7b');
  });

  it('sends a PDF as a file part with the plugin; a reply in the thread sends it again with its annotations, not parsed twice', async () => {
    const file = h.fake.uploadFile({ name: 'contract.pdf', mimetype: 'application/pdf', data: tinyPdf() });
    const first = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> key terms?', files: [file] });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests().at(-1)!.body!.plugins).toEqual([{ id: 'file-parser' }]);
    expect(lastUserParts(h.app.openrouter)[1]).toMatchObject({ type: 'file', file: { filename: 'contract.pdf' } });
    expect(h.app.openrouter.parsedFiles).toBe(1);

    await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> and the notice period?', threadTs: first.ts });
    await h.adapter.idle();
    await waitFor(() => h.app.openrouter.chatRequests().length === 2, 5000, 'the follow-up');
    const messages = h.app.openrouter.chatRequests().at(-1)!.body!.messages as Array<{ role: string; content: unknown; annotations?: Array<{ type: string }> }>;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[1]!.content).toEqual([
      { type: 'text', text: 'key terms?' },
      { type: 'file', file: { filename: 'contract.pdf', file_data: `data:application/pdf;base64,${tinyPdf().toString('base64')}` } },
    ]);
    expect(messages[2]!.annotations?.map((a) => a.type)).toEqual(['file']);
    expect(h.app.openrouter.parsedFiles).toBe(1);
  });

  it('inlines a text file shared in a DM (subtype file_share)', async () => {
    const file = h.fake.uploadFile({ name: 'config.yaml', mimetype: 'text/plain', data: Buffer.from('port: 8080\n') });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'is this valid?', files: [file] });
    await h.adapter.idle();
    expect(lastUserParts(h.app.openrouter)).toEqual([
      { type: 'text', text: 'is this valid?' },
      { type: 'text', text: 'File config.yaml:\n```\nport: 8080\n```' },
    ]);
  });
});
