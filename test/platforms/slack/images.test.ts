/** Pictures out on Slack: files.uploadV2 into the answer's thread (getUploadURLExternal, the upload, completeUploadExternal), /image end to end. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakePng, IMAGE_MODEL } from '../../fakes/openrouter.ts';
import { ALICE, CHANNEL, startHarness, waitFor, WORKSPACE_ADMIN, type Harness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { QUOTA_DEFAULT_USD_PER_DAY: '1' } });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.violations.length = 0;
  h.fake.ephemerals.length = 0;
  h.app.openrouter.reset();
});
afterEach(async () => {
  await h.adapter.idle();
  expect(h.fake.violations).toEqual([]);
});

const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

async function slash(command: string, text: string, user = ALICE): Promise<void> {
  await h.fake.slashCommand({ command, text, user, channel: CHANNEL });
  await h.adapter.idle();
}

describe('pictures out on Slack', () => {
  it('/image without the option: an ephemeral message saying an admin must set it; nothing sent upstream', async () => {
    await slash('/model', 'option image-model off', WORKSPACE_ADMIN);
    await slash('/image', 'a cat');
    expect(h.fake.ephemerals.at(-1)!.text).toContain('No image model is set here');
    expect(h.fake.ephemerals.at(-1)!.text).toContain('/model option image-model');
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('/image end to end: the answer in the channel, the picture shared into its thread with its bytes intact; quota recorded', async () => {
    await slash('/model', `option image-model ${IMAGE_MODEL}`, WORKSPACE_ADMIN);
    const png = fakePng(2_500_000, 6);
    h.app.openrouter.enqueue({ text: ['A cat ', 'for you.'], images: [dataUrl(png)], usage: { cost: 0.0391 } });
    await slash('/image', 'a cat');
    expect(h.app.openrouter.chatRequests().at(-1)!.body!.modalities).toEqual(['image', 'text']);
    const answer = h.fake.botMessages(CHANNEL).at(-1)!;
    expect(h.fake.visibleText(answer)).toContain('A cat for you.');
    expect(h.fake.visibleText(answer)).toContain('$0.04');
    expect(h.fake.files).toHaveLength(1);
    const file = h.fake.files[0]!;
    expect(file).toMatchObject({ filename: 'image-1.png', title: 'image-1.png', channel: CHANNEL, threadTs: answer.ts, length: png.length });
    expect(Buffer.compare(file.data, png)).toBe(0);
    expect(h.fake.botMessages(CHANNEL, answer.ts).some((m) => m.sharedFileIds?.includes(file.id))).toBe(true);
    expect(h.fake.callsOf('files.getUploadURLExternal')[0]!.args).toMatchObject({ filename: 'image-1.png', length: String(png.length) });
    const row = (await h.app.core.store.ledger({})).at(-1)!;
    expect(row).toMatchObject({ platform: 'slack', userId: ALICE, modelRequested: IMAGE_MODEL, outcome: 'ok', imagesOut: 1, costUsd: 0.0391 });
  });

  it('a model override without image output is refused with a clear message', async () => {
    await slash('/model', `option image-model ${IMAGE_MODEL}`, WORKSPACE_ADMIN);
    await slash('/image', 'a cat --model openai/gpt-4o-mini', WORKSPACE_ADMIN);
    expect(h.fake.ephemerals.at(-1)!.text).toContain('does not make pictures');
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('a malformed data URL is named in a context block; nothing is uploaded', async () => {
    await slash('/model', `option image-model ${IMAGE_MODEL}`, WORKSPACE_ADMIN);
    const before = h.fake.files.length;
    const asked = h.fake.callsOf('files.getUploadURLExternal').length;
    h.app.openrouter.enqueue({ text: ['Oops.'], images: ['data:image/svg+xml;base64,PHN2Zz4='] });
    await slash('/image', 'a cat');
    const answer = h.fake.botMessages(CHANNEL).at(-1)!;
    const block = answer.blocks!.find((b) => b.block_id === 'switchboard_images');
    expect((block!.elements as Array<{ text: string }>)[0]!.text).toBe('⚠️ Picture 1 from the model could not be shown: its type image/svg+xml is not PNG, JPEG, WebP or GIF.');
    expect(h.fake.files).toHaveLength(before);
    expect(h.fake.callsOf('files.getUploadURLExternal').length).toBe(asked);
  });

  it('a mention to an image-output channel model (native stream) shares the picture into the mention thread after the stream ends', async () => {
    await slash('/model', `set ${IMAGE_MODEL}`, WORKSPACE_ADMIN);
    const png = fakePng(40_000, 3);
    h.app.openrouter.enqueue({ text: ['Drawn.'], images: [dataUrl(png)] });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> draw a dog' });
    const file = await waitFor(() => h.fake.files.find((f) => f.threadTs === mention.ts), 5000, 'the shared picture');
    expect(Buffer.compare(file.data, png)).toBe(0);
    const stopAt = h.fake.calls.findIndex((c) => c.method === 'chat.stopStream');
    const completeAt = h.fake.calls.findIndex((c) => c.method === 'files.completeUploadExternal' && c.args.thread_ts === mention.ts);
    expect(stopAt).toBeGreaterThanOrEqual(0);
    expect(completeAt).toBeGreaterThan(stopAt);
    await slash('/model', 'reset', WORKSPACE_ADMIN);
  });

  it('a failed upload is said in the thread, and the answer stands', async () => {
    await slash('/model', `option image-model ${IMAGE_MODEL}`, WORKSPACE_ADMIN);
    h.fake.failNext('files.completeUploadExternal', 'internal_error');
    h.app.openrouter.enqueue({ text: ['Here.'], images: [dataUrl(fakePng(1000, 1))] });
    await slash('/image', 'a cat');
    const answer = h.fake.botMessages(CHANNEL).at(-1)!;
    expect(h.fake.visibleText(answer)).toContain('Here.');
    const note = h.fake.botMessages(CHANNEL, answer.ts).find((m) => m.text.startsWith('⚠️ The picture could not be uploaded'));
    expect(note?.text).toContain('internal_error');
  });
});
