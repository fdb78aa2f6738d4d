import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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

describe('chat streaming', () => {
  it('streams text deltas, usage and exactly one done event', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['Hel', 'lo', ' world'], id: 'gen-abc', usage: { prompt_tokens: 11, completion_tokens: 3, cost: 0.00042 } });
    const events = await collect(service.chat(hello));

    expect(events.filter((e) => e.type === 'text').map((e) => (e.type === 'text' ? e.text : ''))).toEqual(['Hel', 'lo', ' world']);
    expect(events.filter((e) => e.type === 'usage')).toHaveLength(1);
    const result = doneOf(events);
    expect(result).toMatchObject({
      text: 'Hello world',
      modelRequested: 'openai/gpt-4o-mini',
      modelAnswered: 'openai/gpt-4o-mini',
      isFallback: false,
      finishReason: 'stop',
      generationId: 'gen-abc',
      rounds: 1,
      usage: { promptTokens: 11, completionTokens: 3, costUsd: 0.00042, costSource: 'openrouter' },
    });
    expect(result.totalMs).toBeGreaterThanOrEqual(0);
  });

  it('sends stream options, max_tokens and temperature, and never the SDK body option', async () => {
    const { service } = makeHarness(fake);
    doneOf(await collect(service.chat({ ...hello, maxTokens: 200, temperature: 0.3 })));
    const body = fake.chatRequests()[0]!.body!;
    expect(body).toMatchObject({
      model: 'openai/gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 200,
      temperature: 0.3,
      messages: [{ role: 'user', content: 'hello there' }],
    });
    expect(body.models).toBeUndefined();
    expect(body.tools).toBeUndefined();
  });

  it('sends the attribution headers and the bearer key', async () => {
    const { service } = makeHarness(fake);
    doneOf(await collect(service.chat(hello)));
    const headers = fake.chatRequests()[0]!.headers;
    expect(headers['http-referer']).toBe('https://switchboard.example');
    expect(headers['x-title']).toBe('Switchboard');
    expect(headers['x-openrouter-title']).toBe('Switchboard');
    expect(headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('measures the time to the first token after a slow start with keep-alive comments', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ keepAlive: 3, firstTokenDelayMs: 60, text: ['slow', ' start'] });
    const result = doneOf(await collect(service.chat(hello)));
    expect(result.text).toBe('slow start');
    expect(result.timeToFirstTokenMs).toBeGreaterThanOrEqual(55);
    expect(result.totalMs).toBeGreaterThanOrEqual(result.timeToFirstTokenMs!);
  });

  it('treats a stream that ends without [DONE] as the answer', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['no ', 'done'], omitDone: true });
    const result = doneOf(await collect(service.chat(hello)));
    expect(result.text).toBe('no done');
    expect(result.usage.promptTokens).toBeGreaterThan(0);
  });

  it('computes the cost from catalog prices when usage has no cost', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['ok'], usage: { prompt_tokens: 1000, completion_tokens: 500, cost: null } });
    const events = await collect(service.chat(hello));
    const result = doneOf(events);
    // gpt-4o-mini in the fake: 0.15 / 0.60 USD per 1M tokens.
    expect(result.usage.costSource).toBe('catalog');
    expect(result.usage.costUsd).toBeCloseTo(1000 * 0.00000015 + 500 * 0.0000006, 12);
  });

  it('reports an unknown cost when neither OpenRouter nor the catalog knows it', async () => {
    fake.modelsStatus = 500;
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['ok'], usage: { prompt_tokens: 10, completion_tokens: 5, cost: null } });
    const result = doneOf(await collect(service.chat(hello)));
    expect(result.usage).toEqual({ promptTokens: 10, completionTokens: 5, reasoningTokens: 0, costUsd: 0, costSource: 'unknown' });
  });

  it('survives a stream without any usage chunk', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['bare'], usage: false });
    const events = await collect(service.chat(hello));
    expect(events.some((e) => e.type === 'usage')).toBe(false);
    expect(doneOf(events).usage).toEqual({ promptTokens: 0, completionTokens: 0, costUsd: 0, costSource: 'unknown' });
  });
});

describe('OpenRouter request fields', () => {
  it('hashes the user id and never sends it raw', async () => {
    const { service } = makeHarness(fake);
    doneOf(await collect(service.chat({ ...hello, user: { platform: 'slack', id: 'U0SECRETID' } })));
    const raw = JSON.stringify(fake.chatRequests()[0]!.body);
    expect(raw).not.toContain('U0SECRETID');
    const expected = createHash('sha256').update('slack:U0SECRETID').digest('hex').slice(0, 32);
    expect(fake.chatRequests()[0]!.body!.user).toBe(expected);
    // Stable across calls.
    doneOf(await collect(service.chat({ ...hello, user: { platform: 'slack', id: 'U0SECRETID' } })));
    expect(fake.chatRequests()[1]!.body!.user).toBe(expected);
  });

  it('maps provider preferences to snake_case', async () => {
    const { service } = makeHarness(fake);
    doneOf(
      await collect(
        service.chat({
          ...hello,
          provider: {
            order: ['openai', 'azure'],
            sort: 'throughput',
            allowFallbacks: false,
            only: ['openai'],
            ignore: ['deepinfra'],
            dataCollection: 'deny',
            requireParameters: true,
            maxPrice: { prompt: 1, completion: 2 },
          },
        }),
      ),
    );
    expect(fake.chatRequests()[0]!.body!.provider).toEqual({
      order: ['openai', 'azure'],
      sort: 'throughput',
      allow_fallbacks: false,
      only: ['openai'],
      ignore: ['deepinfra'],
      data_collection: 'deny',
      require_parameters: true,
      max_price: { prompt: 1, completion: 2 },
    });
  });

  it('sends models fallbacks and reports the fallback that answered', async () => {
    const { service } = makeHarness(fake);
    fake.down.add('anthropic/claude-3.5-sonnet');
    const result = doneOf(
      await collect(service.chat({ ...hello, model: 'anthropic/claude-3.5-sonnet', fallbackModels: ['openai/gpt-4o-mini'] })),
    );
    expect(fake.chatRequests()[0]!.body!.models).toEqual(['anthropic/claude-3.5-sonnet', 'openai/gpt-4o-mini']);
    expect(result.modelRequested).toBe('anthropic/claude-3.5-sonnet');
    expect(result.modelAnswered).toBe('openai/gpt-4o-mini');
    expect(result.isFallback).toBe(true);
    // Cost is that of the model that answered.
    expect(result.usage.costSource).toBe('openrouter');
  });

  it('never more than 3 models (primary + 2 fallbacks) reach OpenRouter, which rejects a longer models array with 400', async () => {
    const { service, log } = makeHarness(fake);
    const fallbackModels = ['anthropic/claude-3.5-sonnet', 'openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet', 'x/one', 'x/two'];
    const result = doneOf(await collect(service.chat({ ...hello, fallbackModels })));
    expect(result.text).toBe('You said: hello there');
    expect(fake.chatRequests()[0]!.body!.models).toEqual(['openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet', 'x/one']);
    const warning = log.entries().find((e) => e.msg === 'too many fallback models for OpenRouter; extra ones dropped');
    expect(warning).toMatchObject({ level: 40, dropped: ['x/two'] });

    // The fake answers a longer array as the real one does.
    const raw = await fetch(`${fake.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ model: 'a/a', models: ['a/a', 'b/b', 'c/c', 'd/d'], messages: [] }),
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ error: { code: 400, message: "'models' array must have 3 items or fewer." } });
  });

  it('does not call openrouter/auto answering as a concrete model a fallback', async () => {
    const { service } = makeHarness(fake);
    const result = doneOf(await collect(service.chat({ ...hello, model: 'openrouter/auto' })));
    expect(result.modelAnswered).toBe('openai/gpt-4o-mini');
    expect(result.isFallback).toBe(false);
  });

  it('does not call a dated version of the requested model a fallback', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['hi'], model: 'openai/gpt-4o-mini-2024-07-18' });
    const result = doneOf(await collect(service.chat(hello)));
    expect(result.isFallback).toBe(false);
  });

  it('reports a 502 when the model is down and there are no fallbacks', async () => {
    const { service } = makeHarness(fake);
    fake.down.add('openai/gpt-4o-mini');
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('upstream_down');
    expect(event.error.providerMessage).toContain('is down');
  });
});

describe('failures after streaming began', () => {
  it('keeps the partial text when an error chunk arrives mid-stream', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['The answer ', 'is'], midStreamError: { code: 502, message: 'Upstream provider crashed' } });
    const events = await collect(service.chat(hello));
    const event = errorOf(events);
    expect(event.error.kind).toBe('mid_stream');
    expect(event.partialText).toBe('The answer is');
    expect(textOf(events)).toBe('The answer is');
    expect(event.modelAnswered).toBe('openai/gpt-4o-mini');
    expect(event.generationId).toMatch(/^gen-/);
    expect(event.error.userMessage()).toBe('The model stopped with an error mid-answer: Upstream provider crashed.');
  });

  it('treats choices[].error in a chunk as a mid-stream error', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['partial'], choiceError: { code: 500, message: 'provider overloaded' } });
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('mid_stream');
    expect(event.partialText).toBe('partial');
    expect(event.error.userMessage()).toContain('provider overloaded');
    // The usage chunk after it is still counted.
    expect(event.usage.promptTokens).toBeGreaterThan(0);
  });

  it('reports a malformed SSE line as a mid-stream error, keeping the text, without writing to the console', async () => {
    const { service, log } = makeHarness(fake);
    fake.enqueue({ text: ['before ', 'garbage'], malformedAfterText: true });
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('mid_stream');
    expect(event.partialText).toBe('before garbage');
    // The SDK's own complaint goes to our logger.
    expect(log.entries().some((e) => e.component === 'openai-sdk')).toBe(true);
  });

  it('reports a connection reset as a network error with the partial text', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: ['cut ', 'off'], resetAfterText: true });
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('network');
    expect(event.partialText).toBe('cut off');
  });

  it('times out a stream that goes silent', async () => {
    // The timeout covers the response headers too: long enough that a loaded machine still gets them (and the text) in time.
    const { service } = makeHarness(fake, { timeoutMs: 1000 });
    fake.enqueue({ text: ['then ', 'nothing'], hang: 'after-text' });
    const started = Date.now();
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('timeout');
    expect(event.partialText).toBe('then nothing');
    expect(Date.now() - started).toBeLessThan(10_000);
    await fake.chatRequests()[0]!.finished;
    expect(fake.chatRequests()[0]!.aborted).toBe(true);
  });

  it('SSE keep-alive comments reset the idle watchdog: a model that reasons silently for longer than the idle timeout is not cut off', async () => {
    const { service } = makeHarness(fake, { timeoutMs: 600 });
    // Four idle timeouts of nothing but `: OPENROUTER PROCESSING`, which the SDK never shows us.
    fake.enqueue({ keepAliveFor: { forMs: 2400, everyMs: 25 }, text: ['thought ', 'hard'] });
    const result = doneOf(await collect(service.chat(hello)));
    expect(result.text).toBe('thought hard');
    expect(fake.chatRequests()[0]!.aborted).toBe(false);
  });

  it('times out when no headers arrive', async () => {
    const { service } = makeHarness(fake, { timeoutMs: 60 });
    fake.enqueue({ hang: 'before-headers' });
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('timeout');
    expect(event.error.userMessage()).toBe('The model took too long to answer.');
  });
});

describe('cancellation', () => {
  it('aborts the upstream request at once and keeps what arrived', async () => {
    const { service, log } = makeHarness(fake);
    fake.enqueue({ text: Array.from({ length: 200 }, (_, i) => `w${i} `), chunkDelayMs: 10 });
    const controller = new AbortController();
    const events = [];
    let abortedAt = 0;
    for await (const e of service.chat({ ...hello, signal: controller.signal })) {
      events.push(e);
      if (e.type === 'text' && events.length === 3) {
        abortedAt = Date.now();
        controller.abort();
      }
    }
    const event = errorOf(events);
    expect(event.error.kind).toBe('aborted');
    expect(event.partialText).toBe('w0 w1 w2 ');
    expect(Date.now() - abortedAt).toBeLessThan(500);
    const request = fake.chatRequests()[0]!;
    await request.finished;
    expect(request.aborted).toBe(true);
    expect(log.entries().find((e) => e.msg === 'llm chat failed')).toMatchObject({ errorKind: 'aborted', level: 30 });
  });

  it('aborts while waiting for the first byte', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ hang: 'before-headers' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const event = errorOf(await collect(service.chat({ ...hello, signal: controller.signal })));
    expect(event.error.kind).toBe('aborted');
    await fake.chatRequests()[0]!.finished;
    expect(fake.chatRequests()[0]!.aborted).toBe(true);
  });

  it('does not call OpenRouter when the signal is already aborted', async () => {
    const { service } = makeHarness(fake);
    const event = errorOf(await collect(service.chat({ ...hello, signal: AbortSignal.abort() })));
    expect(event.error.kind).toBe('aborted');
    expect(fake.chatRequests()).toHaveLength(0);
  });

  it('stops the upstream request when the consumer stops iterating', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ text: Array.from({ length: 100 }, () => 'x'), chunkDelayMs: 10 });
    for await (const e of service.chat(hello)) {
      if (e.type === 'text') break;
    }
    const request = fake.chatRequests()[0]!;
    await request.finished;
    expect(request.aborted).toBe(true);
  });
});

describe('logging', () => {
  it('logs one info line per chat with the numbers that matter', async () => {
    const { service, log } = makeHarness(fake);
    fake.enqueue({ text: ['hi'], id: 'gen-log', usage: { prompt_tokens: 7, completion_tokens: 2, cost: 0.001 } });
    doneOf(await collect(service.chat(hello)));
    const lines = log.entries().filter((e) => e.msg === 'llm chat done');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      modelRequested: 'openai/gpt-4o-mini',
      modelAnswered: 'openai/gpt-4o-mini',
      promptTokens: 7,
      completionTokens: 2,
      costUsd: 0.001,
      generationId: 'gen-log',
      rounds: 1,
    });
    expect(typeof lines[0]!.ttftMs).toBe('number');
    expect(typeof lines[0]!.totalMs).toBe('number');
  });

  it('never logs the API key, on success or on error paths', async () => {
    const { service, log } = makeHarness(fake, { maxRetries: 0 });
    doneOf(await collect(service.chat(hello)));
    fake.enqueue({ status: 401, error: { message: `Invalid key ${API_KEY}` } });
    const unauthorized = errorOf(await collect(service.chat(hello)));
    fake.enqueue({ text: ['x'], midStreamError: { code: 500, message: `boom Bearer ${API_KEY}` } });
    const midStream = errorOf(await collect(service.chat(hello)));
    fake.enqueue({ text: ['x'], malformedAfterText: true });
    errorOf(await collect(service.chat(hello)));

    for (const e of [unauthorized.error, midStream.error]) {
      expect(e.message).not.toContain(API_KEY);
      expect(e.userMessage()).not.toContain(API_KEY);
      expect(e.providerMessage ?? '').not.toContain(API_KEY);
    }
    expect(log.text().length).toBeGreaterThan(0);
    expect(log.text()).not.toContain(API_KEY);
    expect(log.text()).not.toContain(API_KEY.slice(10));
  });
});
