/** Pictures out through the OpenRouter service: the real SDK against the fake OpenRouter, a 6 MB SSE line included. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readImageUrls } from '../../src/llm/stream-round.ts';
import { fakePngDataUrl, IMAGE_MODEL, startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { API_KEY, collect, doneOf, hello, makeHarness, textOf } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter({ apiKey: API_KEY });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

describe('image output in the OpenRouter service', () => {
  it('asks for modalities image+text and reads a 6 MB data URL from the one SSE line that finishes the answer', async () => {
    const { service, catalog } = makeHarness(fake);
    const big = fakePngDataUrl(4_600_000, 3);
    expect(big.length).toBeGreaterThan(6_000_000);
    fake.enqueue({ text: ['Here is ', 'your cat.'], images: [big] });
    const events = await collect(service.chat({ model: IMAGE_MODEL, messages: hello.messages, imageOutput: true }));
    expect(fake.chatRequests()[0]!.body!.modalities).toEqual(['image', 'text']);
    expect(textOf(events)).toBe('Here is your cat.');
    const images = events.flatMap((e) => (e.type === 'images' ? e.urls : []));
    expect(images).toHaveLength(1);
    expect(images[0] === big).toBe(true);
    // The picture's tokens are completion tokens; OpenRouter's cost is the truth.
    const result = doneOf(events);
    expect(result.usage.completionTokens).toBeGreaterThan(1290);
    expect(result.usage.costSource).toBe('openrouter');
    expect((await catalog.get(IMAGE_MODEL))?.outputModalities).toEqual(['image', 'text']);
    expect((await catalog.get(IMAGE_MODEL))?.pricing.image).toBe(0.001238);
  });

  it('keeps several images in order, each once, and sends no modalities without imageOutput', async () => {
    const { service } = makeHarness(fake);
    const a = fakePngDataUrl(500, 1);
    const b = fakePngDataUrl(500, 2);
    fake.enqueue({ text: ['Two.'], images: [a, b, a] });
    const events = await collect(service.chat({ model: IMAGE_MODEL, messages: hello.messages }));
    expect(fake.chatRequests()[0]!.body!.modalities).toBeUndefined();
    expect(events.flatMap((e) => (e.type === 'images' ? e.urls : []))).toEqual([a, b]);
  });

  it('without usage.cost, each picture is priced at the catalog pricing.image on top of the tokens', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['Two.'], images: [fakePngDataUrl(300, 1), fakePngDataUrl(300, 2)], usage: { prompt_tokens: 10, completion_tokens: 2600, cost: null } });
    const usage = doneOf(await collect(service.chat({ model: IMAGE_MODEL, messages: hello.messages, imageOutput: true }))).usage;
    expect(usage.costSource).toBe('catalog');
    expect(usage.costUsd).toBeCloseTo(10 * 0.0000003 + 2600 * 0.0000025 + 2 * 0.001238, 12);
  });

  it('readImageUrls skips entries that are not image_url parts', () => {
    expect(readImageUrls(undefined)).toEqual([]);
    expect(readImageUrls([null, 3, { type: 'image_url' }, { image_url: { url: 42 } }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }])).toEqual([
      'data:image/png;base64,AA==',
    ]);
  });
});
