import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyError, LlmError, parseRetryAfterMs, redactSecrets } from '../../src/llm/errors.ts';
import { startFakeOpenRouter, type FakeOpenRouter, type Scenario } from '../fakes/openrouter.ts';
import { API_KEY, collect, doneOf, errorOf, hello, makeHarness } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

interface StatusCase {
  name: string;
  scenario: Scenario;
  kind: LlmError['kind'];
  userMessage: string | RegExp;
  check?: (e: LlmError) => void;
}

const cases: StatusCase[] = [
  {
    name: '400 bad request',
    scenario: { status: 400, error: { message: 'temperature must be at most 2' } },
    kind: 'bad_request',
    userMessage: 'OpenRouter rejected the request: temperature must be at most 2.',
  },
  {
    name: '400 context length (metadata.error_type)',
    scenario: {
      status: 400,
      error: { message: 'Provider returned error', metadata: { error_type: 'context_length_exceeded', raw: 'too long' } },
    },
    kind: 'context_length',
    userMessage: 'The conversation is too long for this model; start a new one with /new.',
    check: (e) => expect(e.code).toBe('context_length_exceeded'),
  },
  {
    name: '400 context length (only metadata.raw says so)',
    scenario: {
      status: 400,
      error: { message: 'Provider returned error', metadata: { raw: "This model's maximum context length is 8192 tokens" } },
    },
    kind: 'context_length',
    userMessage: /too long for this model/,
    check: (e) => expect(e.providerMessage).toContain('maximum context length'),
  },
  {
    name: '401 bad key',
    scenario: { status: 401 },
    kind: 'bad_key',
    userMessage: "The bot's OpenRouter key was rejected; tell an admin.",
  },
  {
    name: '402 out of credits',
    scenario: { status: 402 },
    kind: 'out_of_credits',
    userMessage: 'OpenRouter credits are exhausted; tell an admin.',
  },
  {
    name: '403 moderation with reasons',
    scenario: {
      status: 403,
      error: { metadata: { reasons: ['harassment', 'violence'], flagged_input: 'bad words', provider_name: 'OpenAI', model_slug: 'x' } },
    },
    kind: 'moderation',
    userMessage: 'The request was blocked by moderation: harassment, violence.',
    check: (e) => expect(e.reasons).toEqual(['harassment', 'violence']),
  },
  {
    name: '404 no endpoint',
    scenario: { status: 404, error: { message: 'No endpoints found that support tool use' } },
    kind: 'not_found',
    userMessage: /^No such model or no provider for it/,
  },
  {
    name: '408 timeout',
    scenario: { status: 408 },
    kind: 'timeout',
    userMessage: 'The model took too long to answer.',
  },
  {
    name: '429 with Retry-After',
    scenario: { status: 429, headers: { 'retry-after': '12' } },
    kind: 'rate_limited',
    userMessage: 'The model is rate limited; try again in 12 s.',
    check: (e) => expect(e.retryAfterMs).toBe(12_000),
  },
  {
    name: '429 without Retry-After',
    scenario: { status: 429 },
    kind: 'rate_limited',
    userMessage: 'The model is rate limited; try again in a moment.',
  },
  {
    name: '502 provider down',
    scenario: { status: 502, error: { message: 'Provider returned error', metadata: { raw: 'upstream exploded' } } },
    kind: 'upstream_down',
    userMessage: "The model's provider is down; try again or pick another model.",
    check: (e) => expect(e.providerMessage).toBe('upstream exploded'),
  },
  {
    name: '503 no provider meets the routing constraints',
    scenario: { status: 503 },
    kind: 'not_found',
    userMessage: /^No such model or no provider for it/,
  },
];

describe('HTTP errors through the real SDK', () => {
  for (const c of cases) {
    it(`${c.name} -> ${c.kind}`, async () => {
      const { service } = makeHarness(fake, { maxRetries: 0 });
      fake.enqueue(c.scenario);
      const event = errorOf(await collect(service.chat(hello)));
      expect(event.error).toBeInstanceOf(LlmError);
      expect(event.error.kind).toBe(c.kind);
      expect(event.error.status).toBe(c.scenario.status);
      if (typeof c.userMessage === 'string') expect(event.error.userMessage()).toBe(c.userMessage);
      else expect(event.error.userMessage()).toMatch(c.userMessage);
      expect(event.partialText).toBe('');
      c.check?.(event.error);
    });
  }

  it('a 403 from a guardrail is reported as blocked by a policy, not as a rejected key or moderation', async () => {
    const { service } = makeHarness(fake, { maxRetries: 0 });
    fake.enqueue({
      status: 403,
      error: {
        message: 'Request blocked: input matched a pattern your organization blocks',
        metadata: { patterns: ['credit-card-number'], provider_name: null },
      },
    });
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('policy');
    expect(event.error.status).toBe(403);
    expect(event.error.userMessage()).toContain('blocked by an OpenRouter guardrail/policy');
    expect(event.error.userMessage()).not.toMatch(/key|moderation/i);
    // Moderation keeps its own meaning: reasons win over the word "blocked".
    fake.enqueue({ status: 403, error: { message: 'Request blocked', metadata: { reasons: ['violence'], flagged_input: 'x' } } });
    expect(errorOf(await collect(service.chat(hello))).error.kind).toBe('moderation');
  });

  it('lets the SDK retry a 502 and then succeeds', async () => {
    const { service } = makeHarness(fake, { maxRetries: 1 });
    fake.enqueue({ status: 502, headers: { 'retry-after-ms': '1' } }, { text: ['second ', 'time'] });
    const result = doneOf(await collect(service.chat(hello)));
    expect(result.text).toBe('second time');
    expect(fake.chatRequests()).toHaveLength(2);
  });

  it('does not retry a 400', async () => {
    const { service } = makeHarness(fake, { maxRetries: 2 });
    fake.enqueue({ status: 400 });
    errorOf(await collect(service.chat(hello)));
    expect(fake.chatRequests()).toHaveLength(1);
  });

  it('classifies a refused connection as a network error', async () => {
    const { service } = makeHarness(fake, { baseUrl: 'http://127.0.0.1:9/api/v1', maxRetries: 0 });
    const event = errorOf(await collect(service.chat(hello)));
    expect(event.error.kind).toBe('network');
    expect(event.error.userMessage()).toBe('Could not reach OpenRouter; try again in a moment.');
  });
});

describe('classifyError', () => {
  it('maps the SDK connection classes', () => {
    expect(classifyError(new APIUserAbortError()).kind).toBe('aborted');
    expect(classifyError(new APIConnectionTimeoutError()).kind).toBe('timeout');
    expect(classifyError(new APIConnectionError({ message: 'refused' })).kind).toBe('network');
  });

  it('maps a status-less APIError (error chunk mid-stream) to mid_stream', () => {
    const e = classifyError(new APIError(undefined, { code: 500, message: 'provider died' }, undefined, undefined));
    expect(e.kind).toBe('mid_stream');
    expect(e.userMessage()).toBe('The model stopped with an error mid-answer: provider died.');
  });

  it('maps plain errors and values', () => {
    expect(classifyError(new DOMException('x', 'AbortError')).kind).toBe('aborted');
    expect(classifyError(new SyntaxError('Unexpected token')).kind).toBe('mid_stream');
    expect(classifyError(new TypeError('terminated')).kind).toBe('network');
    expect(classifyError('weird').kind).toBe('unknown');
    const own = new LlmError('invalid_output', 'x');
    expect(classifyError(own)).toBe(own);
  });

  it('removes the key from messages', () => {
    const err = new APIError(400, { error: { code: 400, message: `bad key ${API_KEY}` } }, undefined, new Headers());
    const e = classifyError(err, { secrets: [API_KEY] });
    expect(e.message).not.toContain(API_KEY);
    expect(e.userMessage()).not.toContain(API_KEY);
    expect(redactSecrets('Authorization: Bearer abc.def-123')).toBe('Authorization: [redacted]');
    expect(redactSecrets('key sk-or-v1-abcdef123 here')).toBe('key [redacted] here');
  });

  it('parses Retry-After as seconds, as a date, and as retry-after-ms', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '3' }))).toBe(3000);
    expect(parseRetryAfterMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), undefined, now)).toBe(5000);
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': '250' }))).toBe(250);
    expect(parseRetryAfterMs(new Headers(), { headers: { 'X-RateLimit-Reset': String(now + 7000) } }, now)).toBe(7000);
    expect(parseRetryAfterMs(new Headers())).toBeUndefined();
  });

  it('has a user message for every kind without the word undefined', () => {
    const kinds: LlmError['kind'][] = [
      'rate_limited',
      'out_of_credits',
      'moderation',
      'policy',
      'context_length',
      'not_found',
      'upstream_down',
      'timeout',
      'bad_key',
      'bad_request',
      'mid_stream',
      'aborted',
      'network',
      'invalid_output',
      'unknown',
    ];
    for (const kind of kinds) {
      const message = new LlmError(kind, 'x').userMessage();
      expect(message).toMatch(/\.$/);
      expect(message).not.toContain('undefined');
    }
  });
});
