import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LlmError } from '../../src/llm/errors.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { API_KEY, hello, makeHarness } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const Verdict = z.object({ topic: z.string(), score: z.number().int().min(0).max(10) });

async function rejection(promise: Promise<unknown>): Promise<LlmError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof LlmError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('structured output', () => {
  it('sends a strict json_schema response format and returns the validated value', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ content: '{"topic":"weather","score":7}', usage: { prompt_tokens: 20, completion_tokens: 8, cost: 0.0001 } });
    const { value, result } = await service.structured({ ...hello, user: { platform: 'discord', id: '42' } }, Verdict, 'verdict');
    expect(value).toEqual({ topic: 'weather', score: 7 });
    expect(result).toMatchObject({
      text: '{"topic":"weather","score":7}',
      modelAnswered: 'openai/gpt-4o-mini',
      isFallback: false,
      rounds: 1,
      usage: { promptTokens: 20, completionTokens: 8, costUsd: 0.0001, costSource: 'openrouter' },
    });
    const body = fake.chatRequests()[0]!.body!;
    expect(body.stream).toBe(false);
    expect(body.response_format).toEqual({
      type: 'json_schema',
      json_schema: {
        name: 'verdict',
        strict: true,
        schema: expect.objectContaining({ type: 'object', required: ['topic', 'score'], additionalProperties: false }),
      },
    });
    expect(JSON.stringify(body)).not.toContain('"42"');
  });

  it('accepts JSON wrapped in a code fence', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ content: '```json\n{"topic":"x","score":1}\n```' });
    const { value } = await service.structured(hello, Verdict);
    expect(value).toEqual({ topic: 'x', score: 1 });
  });

  it('throws invalid_output when the answer does not validate', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ content: '{"topic":"x","score":99}' });
    const error = await rejection(service.structured(hello, Verdict));
    expect(error.kind).toBe('invalid_output');
    expect(error.message).toMatch(/does not match the schema/);
    expect(error.message).toMatch(/score/);
    expect(error.userMessage()).toBe("The model's answer was not in the expected format; try again or pick another model.");
  });

  it('throws invalid_output when the answer is not JSON', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ content: 'Sure! The topic is weather.' });
    const error = await rejection(service.structured(hello, Verdict));
    expect(error.kind).toBe('invalid_output');
    expect(error.message).toMatch(/not JSON/);
  });

  it('treats a 200 response with choices[].error as an error', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ content: '', choiceError: { code: 429, message: 'Provider rate limited' } });
    const error = await rejection(service.structured(hello, Verdict));
    expect(error.kind).toBe('rate_limited');
    expect(error.providerMessage).toBe('Provider rate limited');
  });

  it('classifies HTTP errors and never leaks the key', async () => {
    const { service, log } = makeHarness(fake, { maxRetries: 0 });
    fake.enqueue({ status: 401, error: { message: `bad key ${API_KEY}` } });
    const error = await rejection(service.structured(hello, Verdict));
    expect(error.kind).toBe('bad_key');
    expect(error.message).not.toContain(API_KEY);
    expect(log.text()).not.toContain(API_KEY);
    expect(log.entries().some((e) => e.msg === 'llm structured failed' && e.errorKind === 'bad_key')).toBe(true);
  });

  it('reports a fallback in structured calls too', async () => {
    const { service } = makeHarness(fake);
    fake.down.add('openai/gpt-4o-mini');
    fake.enqueue({ content: '{"topic":"t","score":2}' });
    const { result } = await service.structured({ ...hello, fallbackModels: ['anthropic/claude-3.5-sonnet'] }, Verdict);
    expect(result.modelAnswered).toBe('anthropic/claude-3.5-sonnet');
    expect(result.isFallback).toBe(true);
  });

  it('honours the abort signal', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ hang: 'before-headers' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const error = await rejection(service.structured({ ...hello, signal: controller.signal }, Verdict));
    expect(error.kind).toBe('aborted');
  });
});
