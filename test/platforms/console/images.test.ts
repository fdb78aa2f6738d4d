/** Pictures in the terminal chat: saved under the image directory, their paths printed; /image end to end. */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NO_IMAGE_MODEL } from '../../../src/core/image-answers.ts';
import { fakePng, IMAGE_MODEL } from '../../fakes/openrouter.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
import { chat } from './chat-session.ts';

const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

describe('pictures in the terminal chat', () => {
  let app: TestApp;
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-images-test-'));
  });
  afterEach(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('/image without the option says an admin must set it; with it, the picture is saved (bytes intact) and its path printed', async () => {
    app = await startTestApp({ env: { QUOTA_DEFAULT_USD_PER_DAY: '1' } });
    const png = fakePng(1_500_000, 2);
    app.openrouter.enqueue({ text: ['A cat.'], images: [dataUrl(png)] });
    const imageDir = join(dir, 'nested', 'pictures');
    const out = (await chat(app, ['/image a cat', `/model option image-model ${IMAGE_MODEL}`, '/image a cat'], { imageDir })).output();
    expect(out).toContain(NO_IMAGE_MODEL.replace(/\*\*/g, ''));
    const saved = await readdir(imageDir);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatch(/^[\w-]{1,12}-image-1\.png$/);
    const path = join(imageDir, saved[0]!);
    expect(Buffer.compare(await readFile(path), png)).toBe(0);
    expect(out).toContain(`A cat.\n— ${IMAGE_MODEL}`);
    expect(out).toContain(`🖼️ ${path}\n`);
    expect((await app.core.store.ledger({})).at(-1)).toMatchObject({ platform: 'console', outcome: 'ok', imagesOut: 1 });
  });

  it('a malformed data URL is a note, nothing saved; a directory that cannot be made is said, not a crash', async () => {
    app = await startTestApp();
    app.openrouter.enqueue({ text: ['Hm.'], images: ['data:image/png;base64,AAAA'] });
    const blocked = join(dir, 'file-not-dir');
    await writeFile(blocked, 'x');
    app.openrouter.enqueue({ text: ['Two.'], images: [dataUrl(fakePng(500, 1))] });
    const out = (await chat(app, [`/model option image-model ${IMAGE_MODEL}`, '/image a', '/image b', 'still here?'], { imageDir: join(blocked, 'sub') })).output();
    expect(out).toContain('⚠️ Picture 1 from the model could not be shown: its data is not a PNG file.');
    expect(out).toMatch(/⚠️ Pictures not saved: cannot create .*file-not-dir\/sub/);
    expect(out).toContain('You said: still here?');
  });
});
