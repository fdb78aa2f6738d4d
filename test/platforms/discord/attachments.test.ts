/**
 * Attachments in, on Discord: files on mentions, replies and /ask's file
 * option, through the real discord.js against the fake Discord (which serves
 * the attachment URLs) and the fake OpenRouter (which checks content parts).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Place } from '../../../src/core/settings.ts';
import type { FakeAttachment, FakeMessage } from '../../fakes/discord.ts';
import { lastUserParts, noisePng, smallPng, tinyPdf, withVisionModels } from '../../helpers/attachment-files.ts';
import { answerText, hasFooter, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
let general: string;
let bot: string;
let place: Place;
let png: Buffer;

beforeAll(async () => {
  h = await startHarness();
  general = h.fake.channels.general.id;
  bot = h.fake.bot.id;
  place = { platform: 'discord', workspaceId: h.fake.guildId, channelId: general };
  png = await smallPng();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  h.fake.violations.length = 0;
  h.app.openrouter.reset();
  await withVisionModels(h.app.openrouter, h.app.core.catalog);
  await h.app.core.settings.reset(place, 'server');
});
afterEach(async () => {
  await h.adapter.idle();
});

/** The bot's message replying to `message`, once its answer finished (or at once for a plain reply). */
async function replyTo(message: FakeMessage, finished = true): Promise<FakeMessage> {
  const reply = await waitFor(() => h.fake.botMessages(message.channel_id).find((m) => m.message_reference?.message_id === message.id), `a reply to ${message.content}`);
  if (finished) await waitFor(() => h.app.core.pipeline.running() === 0 && hasFooter(reply.content), 'the answer to finish');
  await h.adapter.idle();
  return reply;
}

function ask(content: string, attachments: FakeAttachment[], replyToId?: string): FakeMessage {
  return h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: replyToId ? content : `<@${bot}> ${content}`, attachments, ...(replyToId ? { replyTo: replyToId } : {}) });
}

const useModel = (model: string) => h.app.core.settings.set(place, 'server', 'model', model);

describe('Discord attachments', () => {
  it('sends an image to a vision model as an image_url part with the CDN URL, without downloading it; a reply to the answer still sends it', async () => {
    await useModel('openai/gpt-4o');
    const file = h.fake.hostFile({ filename: 'chart.png', data: png, contentType: 'image/png' });
    const first = await replyTo(ask('what does this chart show?', [file]));
    expect(answerText(first.content)).toBe('You said: what does this chart show?');
    expect(lastUserParts(h.app.openrouter)).toEqual([
      { type: 'text', text: 'what does this chart show?' },
      { type: 'image_url', image_url: { url: file.url } },
    ]);
    expect(h.fake.fileDownloads).toBe(0);

    await replyTo(ask('and the colour?', [], first.id));
    const messages = h.app.openrouter.chatRequests().at(-1)!.body!.messages;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[1]!.content).toEqual([
      { type: 'text', text: 'what does this chart show?' },
      { type: 'image_url', image_url: { url: file.url } },
    ]);
    const [row] = (await h.app.core.store.ledger({})).slice(0, 1);
    expect(row?.attachments).toBe(1);
    expect(h.fake.violations).toEqual([]);
  });

  it('refuses an image for a text-only model, naming three vision models with prices, and sends nothing', async () => {
    const file = h.fake.hostFile({ filename: 'shot.png', data: png, contentType: 'image/png' });
    const ledgerRows = (await h.app.core.store.ledger({})).length;
    const reply = await replyTo(ask('what is this?', [file]), false);
    expect(reply.content).toContain('`openai/gpt-4o-mini` cannot see images, so nothing was sent to it.');
    // The three cheapest vision models, cheapest first, each with its price.
    expect(reply.content).toMatch(/`qwen\/qwen2\.5-vl-7b` · \$0\.20 in \/ \$0\.20 out per 1M tokens[\s\S]*`google\/gemini-2\.5-flash`[\s\S]*`openai\/gpt-4o`/);
    expect(reply.content).not.toContain('claude-sonnet-4');
    expect(reply.content).toContain('/model option vision-model');
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
    expect(await h.app.core.store.ledger({})).toHaveLength(ledgerRows);
  });

  it("answers with the channel's vision-model when the model cannot see images, and says so in the footer", async () => {
    await h.app.core.settings.set(place, 'server', 'visionModel', 'google/gemini-2.5-flash');
    const file = h.fake.hostFile({ filename: 'shot.png', data: png, contentType: 'image/png' });
    const answer = await replyTo(ask('what is this?', [file]));
    expect(h.app.openrouter.chatRequests().at(-1)!.body!.model).toBe('google/gemini-2.5-flash');
    expect(answer.content).toMatch(/google\/gemini-2\.5-flash · .* · vision model here: openai\/gpt-4o-mini cannot see images$/);
  });

  it('sends a PDF as a file part with the file-parser plugin; its annotations ride on the follow-up, so it is parsed once', async () => {
    await h.app.core.settings.set(place, 'server', 'pdfEngine', 'mistral-ocr');
    const file = h.fake.hostFile({ filename: 'spec.pdf', data: tinyPdf(2), contentType: 'application/pdf' });
    const first = await replyTo(ask('summarise the spec', [file]));
    const body = h.app.openrouter.chatRequests().at(-1)!.body!;
    expect(body.plugins).toEqual([{ id: 'file-parser', pdf: { engine: 'mistral-ocr' } }]);
    const [, part] = lastUserParts(h.app.openrouter);
    expect(part).toEqual({ type: 'file', file: { filename: 'spec.pdf', file_data: `data:application/pdf;base64,${tinyPdf(2).toString('base64')}` } });
    expect(h.app.openrouter.parsedFiles).toBe(1);

    await replyTo(ask('and its second page?', [], first.id));
    const followUp = h.app.openrouter.chatRequests().at(-1)!.body!.messages;
    const assistant = followUp.find((m) => m.role === 'assistant') as { annotations?: Array<{ type: string; file: { name: string } }> };
    expect(assistant.annotations?.map((a) => [a.type, a.file.name])).toEqual([['file', 'spec.pdf']]);
    expect(h.app.openrouter.parsedFiles).toBe(1);
    expect(h.fake.violations).toEqual([]);
  });

  it('inlines a text file with its name, and /ask takes a file option (type 11)', async () => {
    const log = h.fake.hostFile({ filename: 'error.log', data: Buffer.from('TypeError: x is undefined\n    at main (app.js:3)\n'), contentType: 'text/plain; charset=utf-8' });
    await replyTo(ask('why does it fail?', [log]));
    expect(lastUserParts(h.app.openrouter)).toEqual([
      { type: 'text', text: 'why does it fail?' },
      { type: 'text', text: 'File error.log:\n```\nTypeError: x is undefined\n    at main (app.js:3)\n```' },
    ]);

    await useModel('openai/gpt-4o');
    const image = h.fake.hostFile({ filename: 'ui.png', data: png, contentType: 'image/png' });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'ask', options: { prompt: 'is this layout ok?' }, files: { file: image } });
    await h.adapter.idle();
    await waitFor(() => h.app.core.pipeline.running() === 0 && h.app.openrouter.chatRequests().length === 2, 'the /ask answer');
    expect(lastUserParts(h.app.openrouter)).toEqual([
      { type: 'text', text: 'is this layout ok?' },
      { type: 'image_url', image_url: { url: image.url } },
    ]);
    expect(interaction.originalId).toBeDefined();

    // A reply to the /ask answer: no message holds the option's file, so the answer's record kept it; its
    // signed URL may have expired by then, so it is downloaded and sent as a data URL.
    const answerMessage = h.fake.botMessages(general).find((m) => m.id === interaction.originalId)!;
    const downloads = h.fake.fileDownloads;
    await replyTo(ask('and on mobile?', [], answerMessage.id));
    const messages = h.app.openrouter.chatRequests().at(-1)!.body!.messages;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[1]!.content).toEqual([
      { type: 'text', text: 'is this layout ok?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
    ]);
    expect(h.fake.fileDownloads).toBe(downloads + 1);
    expect(messages[3]!.content).toBe('and on mobile?');
    expect(h.fake.violations).toEqual([]);
  });

  it('downloads and downscales an image over 5 MB, sending a data URL under the limit', async () => {
    await useModel('openai/gpt-4o');
    const big = await noisePng();
    expect(big.length).toBeGreaterThan(5 * 1024 * 1024);
    const file = h.fake.hostFile({ filename: 'photo.png', data: big, contentType: 'image/png' });
    const downloads = h.fake.fileDownloads;
    await replyTo(ask('describe', [file]));
    const [, part] = lastUserParts(h.app.openrouter) as [unknown, { image_url: { url: string } }];
    expect(part.image_url.url).toMatch(/^data:image\/jpeg;base64,/);
    expect(Buffer.from(part.image_url.url.split(',')[1]!, 'base64').length).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(h.fake.fileDownloads - downloads).toBe(1);
  });

  it('refuses oversize and unknown files, and a ninth attachment, with clear messages and nothing sent', async () => {
    const huge = h.fake.hostFile({ filename: 'dump.txt', data: Buffer.alloc(300 * 1024, 'a'), contentType: 'text/plain' });
    const exe = h.fake.hostFile({ filename: 'setup.exe', data: Buffer.from('MZ'), contentType: 'application/x-msdownload' });
    const reply = await replyTo(ask('look', [huge, exe]), false);
    expect(reply.content).toContain('I could not use 2 of your 2 attachments:');
    expect(reply.content).toContain('`dump.txt`: 300 KB is over the 200 KB limit for text files');
    expect(reply.content).toContain('`setup.exe`: its type (application/x-msdownload) is not one I read');

    const nine = Array.from({ length: 9 }, (_, i) => h.fake.hostFile({ filename: `n${i}.txt`, data: Buffer.from('x'), contentType: 'text/plain' }));
    const tooMany = await replyTo(ask('all of these', nine), false);
    expect(tooMany.content).toContain('You attached 9 files; I take at most 8 per message.');

    const fake = h.fake.hostFile({ filename: 'notes.txt', data: Buffer.from([0xff, 0xfe, 0x00, 0x41]), contentType: 'text/plain' });
    const binary = await replyTo(ask('read', [fake]), false);
    expect(binary.content).toContain('`notes.txt`: it is not UTF-8 text.');
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });
});
