/** Pictures out and /image through the real core (fake surface, fake OpenRouter, SQLite). */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeAnswerImages, decodeImageDataUrl, IMAGE_MAX_BYTES, MAX_ANSWER_IMAGES } from '../../src/core/answer-images.ts';
import { NO_IMAGE_MODEL } from '../../src/core/image-answers.ts';
import { fakePng, fakePngDataUrl, IMAGE_MODEL } from '../fakes/openrouter.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };

describe('answer pictures: checks on the data URLs', () => {
  it('decodes PNG, JPEG, WebP and GIF data URLs and keeps the bytes intact', () => {
    const png = fakePng(2000, 5);
    const decoded = decodeImageDataUrl(`data:image/png;base64,${png.toString('base64')}`);
    expect(decoded.ok && Buffer.compare(decoded.data, png)).toBe(0);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    expect(decodeImageDataUrl(`data:image/jpeg;base64,${jpeg.toString('base64')}`)).toMatchObject({ ok: true, mime: 'image/jpeg' });
    const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]);
    expect(decodeImageDataUrl(`data:image/webp;base64,${webp.toString('base64')}`)).toMatchObject({ ok: true, mime: 'image/webp' });
    expect(decodeImageDataUrl(`data:image/gif;base64,${Buffer.from('GIF89a...').toString('base64')}`)).toMatchObject({ ok: true, mime: 'image/gif' });
  });

  it('says why a picture cannot be used: not a data URL, a link, another type, broken base64, a lying type, too big', () => {
    const problem = (url: string, max?: number) => {
      const d = decodeImageDataUrl(url, max);
      return d.ok ? 'ok' : d.problem;
    };
    expect(problem('hello')).toBe('it is not a base64 data URL');
    expect(problem('https://cdn.example/cat.png')).toBe('it came as a link, not as data');
    expect(problem('data:image/svg+xml;base64,PHN2Zz4=')).toBe('its type image/svg+xml is not PNG, JPEG, WebP or GIF');
    expect(problem('data:image/png;base64,@@@@')).toBe('its data is not valid base64');
    expect(problem(`data:image/png;base64,${Buffer.from('not a png at all').toString('base64')}`)).toBe('its data is not a PNG file');
    expect(problem(fakePngDataUrl(5000), 4000)).toMatch(/^it is 0\.0 MB, over the 0\.0 MB limit$/);
    expect(IMAGE_MAX_BYTES).toBe(8 * 1024 * 1024);
  });

  it('keeps at most MAX_ANSWER_IMAGES pictures, numbers the files, and notes every picture left out', () => {
    const urls = Array.from({ length: MAX_ANSWER_IMAGES + 2 }, (_, i) => (i === 1 ? 'data:image/png;base64,!!' : fakePngDataUrl(300, i)));
    const images = decodeAnswerImages(urls);
    expect(images.files.map((f) => f.filename)).toEqual(['image-1.png', ...Array.from({ length: MAX_ANSWER_IMAGES - 2 }, (_, i) => `image-${i + 3}.png`)]);
    expect(images.problems).toEqual([
      'Picture 2 from the model could not be shown: its data is not valid base64.',
      `The model returned ${MAX_ANSWER_IMAGES + 2} pictures; only the first ${MAX_ANSWER_IMAGES} are shown.`,
    ]);
  });
});

describe('/image and image answers in the core', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const bodies = () => app!.openrouter.chatRequests().map((r) => r.body!);

  it('is off until an admin sets image-model, which must have image output; /model show names it', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(ada, 'image', undefined, { prompt: 'a cat' });
    expect(h.lastReply()).toBe(NO_IMAGE_MODEL);
    expect(bodies()).toHaveLength(0);
    await h.run(ada, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL });
    expect(h.lastReply()).toContain('Only admins');
    await h.run(admin, 'model', 'option', { option: 'image-model', value: 'openai/gpt-4o-mini' });
    expect(h.lastReply()).toBe('`openai/gpt-4o-mini` does not make pictures (its catalog entry lists no image output). Pick a model with image output, e.g. `google/gemini-2.5-flash-image`.');
    await h.run(admin, 'model', 'option', { option: 'image-model', value: 'nope/unknown-model' });
    expect(h.lastReply()).toContain('There is no model `nope/unknown-model`');
    await h.run(admin, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL, scope: 'server' });
    await h.run(ada, 'model', 'show', {});
    expect(h.lastReply()).toContain(`**Image model (/image):** \`${IMAGE_MODEL}\` _(server)_`);
    await h.run(admin, 'model', 'option', { option: 'image-model', value: 'off' });
    await h.run(ada, 'model', 'show', {});
    expect(h.lastReply()).toContain('**Image model (/image):** off _(channel)_');
    await h.run(ada, 'image', undefined, { prompt: 'a cat' });
    expect(h.lastReply()).toBe(NO_IMAGE_MODEL);
  });

  it('draws with the image model: modalities image+text, no tools or history, the picture on the final view, recorded in the ledger', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'calculator' } });
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL });
    app.openrouter.enqueue({ text: ['A cat.'], images: [fakePngDataUrl(3000, 9)], usage: { cost: 0.0391 } });
    await h.run(ada, 'image', undefined, { prompt: 'a cat' });
    const body = bodies().at(-1)!;
    expect(body.model).toBe(IMAGE_MODEL);
    expect(body.modalities).toEqual(['image', 'text']);
    expect(body.tools).toBeUndefined();
    expect(body.models).toBeUndefined();
    expect(h.surfaces.at(-1)!.texts().join('\n')).toMatch(/^A cat\.\n\ngoogle\/gemini-2\.5-flash-image · \d+ in \/ 1,29\d out · \$0\.04 ·/);
    const rows = await app.core.store.ledger({});
    expect(rows.at(-1)).toMatchObject({ modelRequested: IMAGE_MODEL, outcome: 'ok', imagesOut: 1, costUsd: 0.0391 });
  });

  it('reserves the image price: a limit the tokens alone fit under refuses /image before anything is sent', async () => {
    // Worst case of /image: 4096 output tokens (the floor for pictures) at $2.50/M = $0.01024, plus $0.001238 per picture, plus the prompt.
    app = await startTestApp({ env: { QUOTA_DEFAULT_USD_PER_DAY: '0.011' } });
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL });
    await h.run(ada, 'image', undefined, { prompt: 'a cat' });
    expect(h.lastReply()).toContain('daily spending limit');
    expect(bodies()).toHaveLength(0);
    expect((await app.core.store.ledger({})).at(-1)).toMatchObject({ outcome: 'refused', errorKind: 'quota' });
    await app.close();
    app = await startTestApp({ env: { QUOTA_DEFAULT_USD_PER_DAY: '0.0125' } });
    const h2 = createHarness(app.core);
    await h2.run(admin, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL });
    app.openrouter.enqueue({ text: ['Cat.'], images: [fakePngDataUrl(500)] });
    await h2.run(ada, 'image', undefined, { prompt: 'a cat' });
    expect(bodies()).toHaveLength(1);
    // A picture needs output room: the text budget (1024 here) is raised to 4096 for a model that draws.
    expect(bodies()[0]!.max_tokens).toBe(4096);
    expect((await app.core.store.ledger({})).at(-1)).toMatchObject({ outcome: 'ok', imagesOut: 1 });
  });

  it('refuses a model override without image output, and a user override where the channel does not allow picking', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL });
    await h.run(admin, 'image', undefined, { prompt: 'a cat', model: 'openai/gpt-4o-mini' });
    expect(h.lastReply()).toContain('`openai/gpt-4o-mini` does not make pictures');
    await h.run(ada, 'image', undefined, { prompt: 'a cat', model: IMAGE_MODEL.replace('flash', 'pro') });
    expect(h.lastReply()).toContain('does not let users pick their own model');
    expect(bodies()).toHaveLength(0);
  });

  it('a malformed picture becomes a note under the answer, the rest of the answer stands; no picture at all is said too', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'option', { option: 'image-model', value: IMAGE_MODEL });
    app.openrouter.enqueue({ text: ['Here.'], images: ['data:image/png;base64,%%%not-base64'] });
    await h.run(ada, 'image', undefined, { prompt: 'a cat' });
    expect(h.surfaces.at(-1)!.texts().join('\n')).toContain('Here.\n\n⚠️ Picture 1 from the model could not be shown: its data is not valid base64.');
    expect((await app.core.store.ledger({})).at(-1)).toMatchObject({ outcome: 'ok', imagesOut: 0 });
    app.openrouter.enqueue({ text: ['I cannot draw that.'] });
    await h.run(ada, 'image', undefined, { prompt: 'something' });
    expect(h.surfaces.at(-1)!.texts().join('\n')).toContain('I cannot draw that.\n\n_(the model returned no picture)_');
  });

  it('an /ask to a channel whose model draws asks for pictures too; a text model is never sent modalities', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(bodies().at(-1)!.modalities).toBeUndefined();
    await h.run(admin, 'model', 'set', { model: IMAGE_MODEL });
    app.openrouter.enqueue({ text: [], images: [fakePngDataUrl(400)] });
    await h.run(ada, 'ask', undefined, { prompt: 'draw' });
    expect(bodies().at(-1)!.modalities).toEqual(['image', 'text']);
    // A picture alone is an answer: no "empty answer" note.
    expect(h.surfaces.at(-1)!.texts().join('\n')).not.toContain('empty answer');
  });
});
