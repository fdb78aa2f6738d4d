import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { StreamEvent } from '../../src/llm/types.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool } from '../../src/tools/types.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { collect, doneOf, hello, makeHarness, textOf } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const reasoningEvents = (events: StreamEvent[]) => events.filter((e) => e.type === 'reasoning');

describe('reasoning in the stream', () => {
  it('emits reasoning events before the text: text pieces, a signature-only chunk, encrypted reasoning with no text', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({
      reasoning: ['Adding ', 'two and two.'],
      encryptedReasoning: 'B7oH6rUO9kQ=',
      text: ['2 + 2 = 4'],
      usage: { prompt_tokens: 10, completion_tokens: 30, reasoning_tokens: 25 },
    });
    const events = await collect(service.chat(hello));
    expect(reasoningEvents(events)).toEqual([
      { type: 'reasoning', text: 'Adding ', encrypted: false },
      { type: 'reasoning', text: 'two and two.', encrypted: false },
      { type: 'reasoning', text: '', encrypted: false },
      { type: 'reasoning', text: '', encrypted: true },
    ]);
    const firstText = events.findIndex((e) => e.type === 'text');
    expect(events.findLastIndex((e) => e.type === 'reasoning')).toBeLessThan(firstText);
    expect(textOf(events)).toBe('2 + 2 = 4');
    expect(doneOf(events).usage.reasoningTokens).toBe(25);
  });

  it('reads the recorded Anthropic stream (keep-alives between, a signature-only chunk) as reasoning then text', async () => {
    const { service } = makeHarness(fake);
    fake.enqueue({ sse: readFileSync(new URL('../fixtures/openrouter-stream-reasoning-anthropic-signature.sse', import.meta.url), 'utf8') });
    const events = await collect(service.chat(hello));
    const shown = reasoningEvents(events).map((e) => (e.type === 'reasoning' ? e.text : '')).join('');
    expect(shown).toBe('This is a simple arithmetic question. 2+2 equals 4.');
    expect(textOf(events)).toBe('2 + 2 = 4');
    expect(doneOf(events).usage.reasoningTokens).toBe(13);
  });

  it('a model reasoning for longer than the idle timeout does not trip the watchdog while chunks keep coming', async () => {
    // 1.5 s of thinking against a 1 s idle timeout (long enough that a loaded machine still delivers each chunk in time).
    const { service } = makeHarness(fake, { timeoutMs: 1000 });
    fake.enqueue({ reasoning: ['a', 'b', 'c', 'd', 'e', 'f'], reasoningDelayMs: 250, text: ['done'] });
    const events = await collect(service.chat(hello));
    expect(textOf(events)).toBe('done');
    expect(reasoningEvents(events).length).toBe(7);
  });

  it('sends the reasoning_details back unchanged (fragments merged) on the assistant message of a tool loop', async () => {
    const registry = new ToolRegistry(1000);
    registry.register(
      defineTool({ name: 'add', description: 'Adds', input: z.object({ a: z.number().describe('a'), b: z.number().describe('b') }), execute: (i) => ({ sum: i.a + i.b }) }),
    );
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue(
      { reasoning: ['I should ', 'use add.'], toolCalls: [{ id: 'call_1', name: 'add', arguments: '{"a":2,"b":2}' }] },
      { text: ['4'] },
    );
    const events = await collect(service.chat(hello, { context, tools: ['add'] }));
    expect(textOf(events)).toBe('4');
    const second = fake.chatRequests()[1]!.body!;
    const assistant = second.messages.find((m) => m.role === 'assistant') as Record<string, unknown>;
    expect(assistant.reasoning_details).toEqual([
      { type: 'reasoning.text', text: 'I should use add.', signature: 'sig-fake-0123456789', format: 'anthropic-claude-v1', index: 0 },
    ]);
    expect(assistant.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'add', arguments: '{"a":2,"b":2}' } }]);
  });

  it('sends reasoning.effort when the request asks for it, nothing otherwise', async () => {
    const { service } = makeHarness(fake);
    await collect(service.chat({ ...hello, reasoningEffort: 'high' }));
    await collect(service.chat(hello));
    const [withEffort, without] = fake.chatRequests();
    expect(withEffort!.body!.reasoning).toEqual({ effort: 'high' });
    expect(without!.body!).not.toHaveProperty('reasoning');
  });
});
