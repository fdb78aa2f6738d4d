/** Pictures out on Discord: attachments on the answer message (multipart payload_json + files[n]), /image end to end. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NO_IMAGE_MODEL } from '../../../src/core/image-answers.ts';
import { fakePng, IMAGE_MODEL } from '../../fakes/openrouter.ts';
import { startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
let general: string;

beforeAll(async () => {
  h = await startHarness({ env: { QUOTA_DEFAULT_USD_PER_DAY: '1' } });
  general = h.fake.channels.general.id;
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
  expect(h.fake.violations).toEqual([]);
});

const lastEphemeral = (userId: string) => h.fake.ephemeralFor(userId).at(-1)?.content;
const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

async function setImageModel(value: string): Promise<void> {
  await h.fake.runCommand({ user: h.fake.users.bob, channelId: general, name: 'model', subcommand: 'option', options: { option: 'image-model', value } });
  await h.adapter.idle();
}

describe('pictures out on Discord', () => {
  it('/image without the option: a private message saying an admin must set it; nothing sent upstream', async () => {
    await setImageModel('off');
    await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'image', options: { prompt: 'a cat' } });
    await h.adapter.idle();
    expect(lastEphemeral(h.fake.users.alice.id)).toBe(NO_IMAGE_MODEL);
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('/image end to end: the picture arrives as an attachment of the answer message, bytes intact; quota reserved and recorded', async () => {
    await setImageModel(IMAGE_MODEL);
    const png = fakePng(3_000_000, 4);
    h.app.openrouter.enqueue({ text: ['Here is ', 'a cat.'], images: [dataUrl(png)], usage: { cost: 0.0042 } });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'image', options: { prompt: 'a cat' } });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests().at(-1)!.body!.modalities).toEqual(['image', 'text']);
    const message = h.fake.interactionMessages(interaction).at(-1)!;
    expect(message.content).toMatch(/^Here is a cat\.\n\ngoogle\/gemini-2\.5-flash-image · .*\$0\.0042/);
    expect(message.uploads).toHaveLength(1);
    const [upload] = message.uploads!;
    expect(upload).toMatchObject({ field: 'files[0]', filename: 'image-1.png', contentType: 'image/png' });
    expect(Buffer.compare(upload!.data, png)).toBe(0);
    // The multipart body's payload_json carried the message itself, mentions off, the file listed.
    const upload_request = h.fake.requests.find((r) => r.files !== undefined)!;
    expect(upload_request.body).toMatchObject({ allowed_mentions: { parse: [] }, attachments: [{ id: 0, filename: 'image-1.png' }] });
    const row = (await h.app.core.store.ledger({})).at(-1)!;
    expect(row).toMatchObject({ userId: h.fake.users.alice.id, modelRequested: IMAGE_MODEL, outcome: 'ok', imagesOut: 1, costUsd: 0.0042 });
    const usage = await h.app.core.store.usage('discord', h.fake.guildId, h.fake.users.alice.id, new Date(h.clock.now()));
    expect(usage.day.usd).toBeCloseTo(0.0042, 9);
  });

  it('a model override without image output is refused with a clear message', async () => {
    await setImageModel(IMAGE_MODEL);
    await h.fake.runCommand({ user: h.fake.users.bob, channelId: general, name: 'image', options: { prompt: 'a cat', model: 'openai/gpt-4o-mini' } });
    await h.adapter.idle();
    expect(lastEphemeral(h.fake.users.bob.id)).toContain('`openai/gpt-4o-mini` does not make pictures');
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('a malformed data URL is named under the answer, the good picture still uploaded', async () => {
    await setImageModel(IMAGE_MODEL);
    const png = fakePng(2_000, 8);
    h.app.openrouter.enqueue({ text: ['Two tries.'], images: ['data:image/png;base64,****', dataUrl(png)] });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'image', options: { prompt: 'two cats' } });
    await h.adapter.idle();
    const message = h.fake.interactionMessages(interaction).at(-1)!;
    expect(message.content).toContain('Two tries.\n\n⚠️ Picture 1 from the model could not be shown: its data is not valid base64.');
    expect(message.uploads!.map((u) => u.filename)).toEqual(['image-2.png']);
    expect(Buffer.compare(message.uploads![0]!.data, png)).toBe(0);
  });

  it('eleven pictures: the first ten attached to one message (Discord\'s limit), the eleventh named', async () => {
    await setImageModel(IMAGE_MODEL);
    const pngs = Array.from({ length: 11 }, (_, i) => fakePng(800, i + 1));
    h.app.openrouter.enqueue({ text: ['Many.'], images: pngs.map(dataUrl) });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'image', options: { prompt: 'many cats' } });
    await h.adapter.idle();
    const message = h.fake.interactionMessages(interaction).at(-1)!;
    expect(message.uploads!.map((u) => u.field)).toEqual(Array.from({ length: 10 }, (_, i) => `files[${i}]`));
    expect(message.uploads!.every((u, i) => Buffer.compare(u.data, pngs[i]!) === 0)).toBe(true);
    expect(message.content).toContain('⚠️ The model returned 11 pictures; only the first 10 are shown.');
  });

  it('a mention answered by an image-output channel model uploads its picture onto the channel answer (bot token route)', async () => {
    await h.fake.runCommand({ user: h.fake.users.bob, channelId: general, name: 'model', subcommand: 'set', options: { model: IMAGE_MODEL } });
    await h.adapter.idle();
    const png = fakePng(50_000, 2);
    h.app.openrouter.enqueue({ text: ['Drawn.'], images: [dataUrl(png)] });
    const asked = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${h.fake.bot.id}> draw a dog` });
    const answer = await waitFor(() => h.fake.messages(general).find((m) => m.message_reference?.message_id === asked.id && (m.uploads?.length ?? 0) > 0), 'answer with upload');
    expect(Buffer.compare(answer.uploads![0]!.data, png)).toBe(0);
    await h.fake.runCommand({ user: h.fake.users.bob, channelId: general, name: 'model', subcommand: 'reset', options: {} });
  });

  it('without Attach Files in the channel the answer still arrives, saying why its picture is missing', async () => {
    await h.fake.runCommand({ user: h.fake.users.bob, channelId: general, name: 'model', subcommand: 'set', options: { model: IMAGE_MODEL } });
    await h.adapter.idle();
    h.fake.channels.general.botCannotAttach = true;
    try {
      h.app.openrouter.enqueue({ text: ['Drawn.'], images: [dataUrl(fakePng(1_000, 5))] });
      const asked = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${h.fake.bot.id}> draw a fox` });
      const answer = await waitFor(
        () => h.fake.messages(general).find((m) => m.message_reference?.message_id === asked.id && m.content.includes('gemini-2.5-flash-image ·')),
        'the finished answer',
      );
      expect(answer.content).toContain('Drawn.\n\n⚠️ The picture could not be attached: the bot lacks the Attach Files permission in this channel.');
      expect(answer.uploads ?? []).toEqual([]);
      expect((await h.app.core.store.ledger({})).at(-1)).toMatchObject({ outcome: 'ok' });
    } finally {
      h.fake.channels.general.botCannotAttach = false;
      await h.fake.runCommand({ user: h.fake.users.bob, channelId: general, name: 'model', subcommand: 'reset', options: {} });
    }
  });
});
