/**
 * Real OpenRouter streams (test/fixtures/openrouter-*.sse, recorded by other
 * projects) replayed byte for byte through the fake and the real openai SDK.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool } from '../../src/tools/types.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { collect, doneOf, hello, makeHarness } from './helpers.ts';

const recording = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

describe('recorded OpenRouter streams', () => {
  it('a usage chunk that still carries a choice and finish_reason repeated on two chunks change nothing: one tool execution per call id, usage counted once', async () => {
    const runs: unknown[] = [];
    const registry = new ToolRegistry(1000).register(
      defineTool({
        name: 'get_weather',
        description: 'Weather for a city',
        input: z.object({ city: z.string().describe('city name') }),
        execute: (input) => {
          runs.push(input);
          return `Sunny in ${input.city}`;
        },
      }),
    );
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue({ sse: recording('openrouter-stream-tool-call-claude-bedrock.sse') }, { text: ['It is sunny.'], usage: { prompt_tokens: 900, completion_tokens: 5, cost: 0.001 } });
    const events = await collect(service.chat(hello, { context, tools: ['get_weather'] }));
    const result = doneOf(events);

    expect(runs).toEqual([{ city: 'Paris' }]);
    const callId = 'toolu_bdrk_01AVRkzbigpMbNJ3zjnuQ6ZE';
    expect(events.filter((e) => e.type === 'tool-call')).toEqual([
      { type: 'tool-call', call: { id: callId, name: 'get_weather', arguments: '{"city": "Paris"}' } },
    ]);
    expect(events.filter((e) => e.type === 'tool-result')).toEqual([
      { type: 'tool-result', callId, name: 'get_weather', content: 'Sunny in Paris', isError: false },
    ]);
    const second = fake.chatRequests()[1]!.body!.messages;
    expect(second.filter((m) => m.role === 'tool')).toEqual([{ role: 'tool', tool_call_id: callId, content: 'Sunny in Paris' }]);
    expect(second.find((m) => m.role === 'assistant')?.tool_calls).toHaveLength(1);

    const usages = events.filter((e) => e.type === 'usage');
    expect(usages.map((e) => e.type === 'usage' && e.usage)).toEqual([
      { promptTokens: 802, completionTokens: 66, reasoningTokens: 0, costUsd: 0.00566, costSource: 'openrouter' },
      { promptTokens: 900, completionTokens: 5, reasoningTokens: 0, costUsd: 0.001, costSource: 'openrouter' },
    ]);
    expect(result.usage).toMatchObject({ promptTokens: 1702, completionTokens: 71, costSource: 'openrouter' });
    expect(result.usage.costUsd).toBeCloseTo(0.00666, 12);
    expect(result.rounds).toBe(2);
    expect(result.finishReason).toBe('stop');
  });

  it('one tool execution per call id: a call repeated under another index runs once and gets one result', async () => {
    const runs: unknown[] = [];
    const registry = new ToolRegistry(1000).register(
      defineTool({
        name: 'get_weather',
        description: 'Weather for a city',
        input: z.object({ city: z.string().describe('city name') }),
        execute: (input) => {
          runs.push(input);
          return `Sunny in ${input.city}`;
        },
      }),
    );
    const { service, context } = makeHarness(fake, { registry });
    const call = { id: 'toolu_1', name: 'get_weather', arguments: '{"city": "Paris"}' };
    fake.enqueue({ toolCalls: [call, { ...call, fragments: 1 }] }, { text: ['Sunny.'] });
    const events = await collect(service.chat(hello, { context, tools: ['get_weather'] }));
    expect(doneOf(events).text).toBe('Sunny.');
    expect(runs).toEqual([{ city: 'Paris' }]);
    expect(events.filter((e) => e.type === 'tool-result')).toHaveLength(1);
    const toolMessages = fake.chatRequests()[1]!.body!.messages.filter((m) => m.role === 'tool');
    expect(toolMessages).toEqual([{ role: 'tool', tool_call_id: 'toolu_1', content: 'Sunny in Paris' }]);
  });

  it('a usage chunk whose choice sets finish_reason back to null keeps "stop", and its usage is counted once (keep-alive comments between data events)', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ sse: recording('openrouter-stream-reasoning-anthropic-signature.sse') });
    const events = await collect(service.chat(hello));
    const result = doneOf(events);
    expect(result.text).toBe('2 + 2 = 4');
    expect(result.finishReason).toBe('stop');
    expect(result.modelAnswered).toBe('anthropic/claude-sonnet-4.5');
    expect(result.generationId).toBe('gen-1765226419-AGrwjunAftQIAgweibL8');
    expect(events.filter((e) => e.type === 'usage')).toHaveLength(1);
    expect(result.usage).toEqual({ promptTokens: 43, completionTokens: 36, reasoningTokens: 13, costUsd: 0.000669, costSource: 'openrouter' });
  });
});
