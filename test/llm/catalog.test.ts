import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createModelCatalog } from '../../src/llm/catalog.ts';
import { editDistance } from '../../src/llm/model-search.ts';
import { computeCostUsd, pricePerMillion } from '../../src/llm/pricing.ts';
import { modelEntry, startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { API_KEY, captureLogger, manualClock } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const modelFetches = () => fake.requests.filter((r) => r.path === '/models').length;

function makeCatalog(extra: Partial<Parameters<typeof createModelCatalog>[0]> = {}) {
  const log = captureLogger();
  const clock = manualClock();
  const catalog = createModelCatalog({ baseUrl: fake.url, apiKey: API_KEY, logger: log.logger, clock, ttlMs: 60_000, ...extra });
  return { catalog, log, clock };
}

describe('model catalog', () => {
  it('maps OpenRouter entries to ModelInfo', async () => {
    const { catalog } = makeCatalog({ headers: { 'X-Title': 'Switchboard' } });
    expect(await catalog.get('openai/gpt-4o-mini')).toEqual({
      id: 'openai/gpt-4o-mini',
      name: 'OpenAI: GPT-4o-mini',
      description: 'Small, fast and cheap multimodal model from OpenAI.',
      contextLength: 128_000,
      maxCompletionTokens: 16_384,
      pricing: { prompt: 0.00000015, completion: 0.0000006, request: 0 },
      supportedParameters: ['max_tokens', 'temperature', 'tools', 'tool_choice', 'response_format', 'structured_outputs'],
      isFree: false,
      outputModalities: ['text'],
      inputModalities: ['text'],
    });
    expect((await catalog.get('meta-llama/llama-3.1-8b-instruct:free'))?.isFree).toBe(true);
    expect((await catalog.get('openrouter/auto'))?.isFree).toBe(false);
    expect(await catalog.get('nobody/nothing')).toBeUndefined();
    expect(await catalog.available()).toBe(true);
    const request = fake.requests.find((r) => r.path === '/models')!;
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request.headers['x-title']).toBe('Switchboard');
  });

  it('reads input modalities and a per-image price, and finds vision models by input modality', async () => {
    fake.models = [
      modelEntry('v/cheap', { pricing: { prompt: '0.0000001', completion: '0.0000002', image: '0.001' }, architecture: { input_modalities: ['text', 'image'], output_modalities: ['text'], tokenizer: 'Other' } }),
      modelEntry('t/text-only'),
    ];
    const { catalog } = makeCatalog();
    const vision = await catalog.get('v/cheap');
    expect(vision?.inputModalities).toEqual(['text', 'image']);
    expect(vision?.pricing.image).toBe(0.001);
    expect((await catalog.get('t/text-only'))?.pricing.image).toBeUndefined();
    expect((await catalog.search('', { inputModality: 'image' })).map((m) => m.id)).toEqual(['v/cheap']);
  });

  it('a router or a model without listed prices is variable-priced, never free, with the priciest text model as its ceiling', async () => {
    fake.models = [
      ...fake.models,
      modelEntry('mystery/unpriced', { pricing: {} as ReturnType<typeof modelEntry>['pricing'] }),
      modelEntry('pics/image-maker', {
        pricing: { prompt: '0.0001', completion: '0.04' },
        architecture: { input_modalities: ['text'], output_modalities: ['image'], tokenizer: 'Other' },
      }),
    ];
    const { catalog } = makeCatalog();
    const ceiling = { prompt: 0.000003, completion: 0.000015, request: 0 };
    expect(await catalog.get('openrouter/auto')).toMatchObject({ pricing: { prompt: -1, completion: -1 }, isFree: false, ceilingPricing: ceiling });
    expect(await catalog.get('mystery/unpriced')).toMatchObject({ pricing: { prompt: -1, completion: -1, request: 0 }, isFree: false, ceilingPricing: ceiling });
    expect((await catalog.get('anthropic/claude-3.5-sonnet'))?.ceilingPricing).toBeUndefined();
    // The cost of an answer is never computed from the ceiling.
    expect(computeCostUsd(await catalog.get('openrouter/auto'), 1000, 100)).toBeUndefined();
  });

  it('skips malformed entries instead of failing the whole list', async () => {
    fake.models = [...fake.models, { id: 42 } as unknown as ReturnType<typeof modelEntry>];
    const { catalog } = makeCatalog();
    expect(await catalog.get('openai/gpt-4o-mini')).toBeDefined();
  });

  it('fetches once for concurrent first calls and caches afterwards', async () => {
    fake.modelsDelayMs = 30;
    const { catalog } = makeCatalog();
    const results = await Promise.all([catalog.get('openai/gpt-4o-mini'), catalog.available(), catalog.search('claude')]);
    expect(results[0]).toBeDefined();
    expect(results[1]).toBe(true);
    expect(results[2][0]?.id).toBe('anthropic/claude-3.5-sonnet');
    await catalog.get('openai/gpt-4o-mini');
    expect(modelFetches()).toBe(1);
  });

  it('serves a stale list while one background refresh runs', async () => {
    const { catalog, clock } = makeCatalog();
    await catalog.get('openai/gpt-4o-mini');
    fake.models = [...fake.models, modelEntry('new/model')];
    clock.advance(30_000);
    expect(await catalog.get('new/model')).toBeUndefined();
    expect(modelFetches()).toBe(1);

    fake.modelsDelayMs = 20;
    clock.advance(31_000);
    // Stale: answered from the cache at once, refreshed behind the scenes (once, even when asked twice).
    expect(await catalog.get('new/model')).toBeUndefined();
    expect(await catalog.get('new/model')).toBeUndefined();
    await vi.waitFor(async () => expect(await catalog.get('new/model')).toBeDefined(), { timeout: 1000, interval: 10 });
    expect(modelFetches()).toBe(2);
  });

  it('keeps serving the cached list when a refresh fails', async () => {
    const { catalog, clock, log } = makeCatalog();
    await catalog.get('openai/gpt-4o-mini');
    fake.modelsStatus = 500;
    clock.advance(61_000);
    await catalog.refresh();
    expect(await catalog.get('openai/gpt-4o-mini')).toBeDefined();
    expect(await catalog.available()).toBe(true);
    expect(log.entries().some((e) => e.level === 40 && e.msg === 'model catalog refresh failed; serving the cached list')).toBe(true);
  });

  it('answers "unknown" when the list cannot be loaded, logs a warning and retries later', async () => {
    fake.modelsStatus = 500;
    const { catalog, clock, log } = makeCatalog({ retryAfterFailureMs: 5_000 });
    expect(await catalog.get('openai/gpt-4o-mini')).toBeUndefined();
    expect(await catalog.available()).toBe(false);
    expect(await catalog.search('gpt')).toEqual([]);
    expect(await catalog.suggest('gpt')).toEqual([]);
    expect(modelFetches()).toBe(1);
    const warning = log.entries().find((e) => e.msg === 'model catalog unavailable');
    expect(warning).toMatchObject({ level: 40, error: 'GET /models answered 500' });
    expect(log.text()).not.toContain(API_KEY);

    fake.modelsStatus = undefined;
    clock.advance(5_001);
    expect(await catalog.available()).toBe(true);
    expect(modelFetches()).toBe(2);
  });

  it('answers "unknown" when the server is unreachable', async () => {
    const log = captureLogger();
    const catalog = createModelCatalog({ baseUrl: 'http://127.0.0.1:9/api/v1', logger: log.logger });
    expect(await catalog.get('openai/gpt-4o-mini')).toBeUndefined();
    expect(await catalog.available()).toBe(false);
  });

  it('refresh() loads now; close() stops further fetching', async () => {
    const { catalog } = makeCatalog();
    await catalog.refresh();
    expect(modelFetches()).toBe(1);
    fake.models = [...fake.models, modelEntry('late/model')];
    await catalog.refresh();
    expect(await catalog.get('late/model')).toBeDefined();
    catalog.close();
    await catalog.refresh();
    expect(modelFetches()).toBe(2);
  });
});

describe('search and suggest', () => {
  it('ranks exact ids and id prefixes first and needs every word', async () => {
    fake.models = [
      ...fake.models,
      modelEntry('openai/gpt-4o', { name: 'OpenAI: GPT-4o' }),
      modelEntry('someone/model-x', { name: 'X', description: 'A rival of openai/gpt-4o' }),
    ];
    const { catalog } = makeCatalog();
    expect((await catalog.search('openai/gpt-4o')).map((m) => m.id)).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini', 'someone/model-x']);
    expect((await catalog.search('gpt mini')).map((m) => m.id)).toEqual(['openai/gpt-4o-mini']);
    expect((await catalog.search('claude')).map((m) => m.id)).toEqual(['anthropic/claude-3.5-sonnet']);
    expect((await catalog.search('coding')).map((m) => m.id)).toEqual(['anthropic/claude-3.5-sonnet']);
    expect(await catalog.search('no such thing')).toEqual([]);
    expect(await catalog.search('gpt', { limit: 1 })).toHaveLength(1);
  });

  it('filters free models', async () => {
    const { catalog } = makeCatalog();
    expect((await catalog.search('', { free: true })).map((m) => m.id)).toEqual(['meta-llama/llama-3.1-8b-instruct:free']);
    expect((await catalog.search('', { free: false })).map((m) => m.id)).not.toContain('meta-llama/llama-3.1-8b-instruct:free');
  });

  it('suggests close ids for typos and partial names', async () => {
    const { catalog } = makeCatalog();
    expect(await catalog.suggest('openai/gpt-4o-mni')).toEqual(['openai/gpt-4o-mini']);
    expect((await catalog.suggest('claude-3.5-sonet'))[0]).toBe('anthropic/claude-3.5-sonnet');
    expect((await catalog.suggest('meta-llama/llama-3.1-8b-instruct'))[0]).toBe('meta-llama/llama-3.1-8b-instruct:free');
    expect(await catalog.suggest('zzzzzzzzzzzz')).toEqual([]);
    expect(await catalog.suggest('openai/gpt-4o-mini')).toEqual([]);
  });

  it('computes edit distances', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});

describe('pricing', () => {
  const model = {
    id: 'm',
    name: 'm',
    contextLength: 1,
    pricing: { prompt: 0.000003, completion: 0.000015, request: 0.001 },
    supportedParameters: [],
    isFree: false,
  };

  it('converts per-token prices to per-million', () => {
    expect(pricePerMillion(model.pricing)).toEqual({ prompt: 3, completion: 15, request: 0.001 });
  });

  it('computes a cost from catalog prices', () => {
    expect(computeCostUsd(model, 1000, 100)).toBeCloseTo(0.003 + 0.0015 + 0.001, 12);
    expect(computeCostUsd(undefined, 1000, 100)).toBeUndefined();
    expect(computeCostUsd({ ...model, pricing: { prompt: -1, completion: -1, request: 0 } }, 1, 1)).toBeUndefined();
  });
});
