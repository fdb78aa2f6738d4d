/** The OpenRouter service with web search and privacy routing, through the real SDK against the fake OpenRouter. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LlmError, privacyRefusal } from '../../src/llm/errors.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { API_KEY, collect, doneOf, errorOf, hello, makeHarness, textOf } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter({ apiKey: API_KEY });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

describe('web search in the OpenRouter service', () => {
  it('sends the server tool, streams url_citation annotations as citations events, and counts the searches', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['Answer ', 'here.'], webSearchRequests: 2 });
    const events = await collect(service.chat({ ...hello, webSearch: { maxResults: 5, allowedDomains: ['example.com'] } }));
    expect(fake.chatRequests()[0]!.body!.tools).toEqual([{ type: 'openrouter:web_search', parameters: { max_results: 5, allowed_domains: ['example.com'] } }]);
    expect(textOf(events)).toBe('Answer here.');
    const citations = events.flatMap((e) => (e.type === 'citations' ? e.citations : []));
    expect(citations.map((c) => [c.url, c.title, c.startIndex])).toEqual([
      ['https://example.com/first', 'First source', 0],
      ['https://example.org/second', 'Second source', 6],
      ['https://example.com/first', 'First source', 11],
    ]);
    expect(doneOf(events).usage.webSearchRequests).toBe(2);
  });

  it('sends no server tool and reads no citations without web search', async () => {
    const { service } = makeHarness(fake);
    const events = await collect(service.chat(hello));
    expect(fake.chatRequests()[0]!.body!.tools).toBeUndefined();
    expect(events.some((e) => e.type === 'citations')).toBe(false);
    expect(doneOf(events).usage.webSearchRequests).toBeUndefined();
  });
});

describe('privacy routing in the OpenRouter service', () => {
  it('sends provider.zdr or provider.data_collection, beside other provider preferences', async () => {
    const { service } = makeHarness(fake);
    await collect(service.chat({ ...hello, privacy: 'zdr', provider: { sort: 'price' } }));
    await collect(service.chat({ ...hello, privacy: 'no-training' }));
    await collect(service.chat({ ...hello, privacy: 'default' }));
    expect(fake.chatRequests().map((r) => r.body!.provider)).toEqual([{ sort: 'price', zdr: true }, { data_collection: 'deny' }, undefined]);
  });

  it('turns the 404 "No endpoints found" of a privacy-routed request into a no_private_endpoint error naming the model', async () => {
    const { service } = makeHarness(fake);
    fake.retainsData.add('openai/gpt-4o-mini');
    const error = errorOf(await collect(service.chat({ ...hello, privacy: 'zdr' }))).error;
    expect(error.kind).toBe('no_private_endpoint');
    expect(error.userMessage()).toBe(
      "No provider of openai/gpt-4o-mini meets this channel's zero-data-retention setting; try another model, or ask an admin for `/model option privacy default`.",
    );
    // Without privacy routing the same model answers.
    doneOf(await collect(service.chat(hello)));
  });

  it('privacyRefusal leaves other errors, and a 404 without privacy routing, as they are', () => {
    const notFound = new LlmError('not_found', 'OpenRouter answered 404: No endpoints found for this model', { status: 404, providerMessage: 'No endpoints found for this model' });
    expect(privacyRefusal(notFound, { model: 'm' })).toBe(notFound);
    expect(privacyRefusal(notFound, { model: 'm', privacy: 'default' })).toBe(notFound);
    const down = new LlmError('upstream_down', 'down', { status: 502 });
    expect(privacyRefusal(down, { model: 'm', privacy: 'zdr' })).toBe(down);
    expect(privacyRefusal(notFound, { model: 'm', privacy: 'no-training' }).kind).toBe('no_private_endpoint');
  });
});
