import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { StreamEvent } from '../../src/llm/types.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool, type RequestOutcome, type ToolResultInfo } from '../../src/tools/types.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { collect, doneOf, errorOf, hello, makeHarness } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

function makeRegistry() {
  const calls: { name: string; input: unknown }[] = [];
  const registry = new ToolRegistry(1000);
  registry.register(
    defineTool({
      name: 'add',
      description: 'Adds two numbers',
      input: z.object({ a: z.number().describe('first'), b: z.number().describe('second') }),
      execute: (input) => {
        calls.push({ name: 'add', input });
        return { sum: input.a + input.b };
      },
    }),
  );
  registry.register(
    defineTool({
      name: 'weather',
      description: 'Weather for a city',
      input: z.object({ city: z.string().describe('city name') }),
      execute: async (input) => {
        calls.push({ name: 'weather', input });
        return `Sunny in ${input.city}`;
      },
    }),
  );
  registry.register(
    defineTool({
      name: 'explode',
      description: 'Always throws',
      input: z.object({}),
      execute: () => {
        throw new Error('kaboom');
      },
    }),
  );
  let sawAbort = false;
  registry.register(
    defineTool({
      name: 'hang',
      description: 'Never finishes',
      input: z.object({}),
      timeoutMs: 50,
      execute: (_input, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => (sawAbort = true));
        }),
    }),
  );
  return { registry, calls, sawAbort: () => sawAbort };
}

const toolEvents = (events: StreamEvent[]) => events.filter((e) => e.type === 'tool-call' || e.type === 'tool-result');

describe('tool loop', () => {
  it('assembles fragmented parallel calls, runs them and sends the results back', async () => {
    const { registry, calls } = makeRegistry();
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue(
      {
        text: ['Let me check.'],
        toolCalls: [
          { id: 'call_a', name: 'add', arguments: '{"a": 2, "b": 40}', fragments: 4 },
          { id: 'call_w', name: 'weather', arguments: '{"city": "Lisbon"}', fragments: 3 },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0.001 },
      },
      { text: ['42, and ', 'sunny.'], usage: { prompt_tokens: 30, completion_tokens: 4, cost: 0.002 } },
    );
    const events = await collect(service.chat(hello, { context, tools: ['add', 'weather'] }));
    const result = doneOf(events);

    expect(calls).toEqual([
      { name: 'add', input: { a: 2, b: 40 } },
      { name: 'weather', input: { city: 'Lisbon' } },
    ]);
    expect(toolEvents(events)).toEqual([
      { type: 'tool-call', call: { id: 'call_a', name: 'add', arguments: '{"a": 2, "b": 40}' } },
      { type: 'tool-call', call: { id: 'call_w', name: 'weather', arguments: '{"city": "Lisbon"}' } },
      { type: 'tool-result', callId: 'call_a', name: 'add', content: '{"sum":42}', isError: false },
      { type: 'tool-result', callId: 'call_w', name: 'weather', content: 'Sunny in Lisbon', isError: false },
    ]);

    const [first, second] = fake.chatRequests();
    expect(first!.body!.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'add',
          description: 'Adds two numbers',
          parameters: expect.objectContaining({ type: 'object', required: ['a', 'b'] }),
        },
      },
      { type: 'function', function: expect.objectContaining({ name: 'weather' }) },
    ]);
    expect(second!.body!.messages).toEqual([
      { role: 'user', content: 'hello there' },
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'add', arguments: '{"a": 2, "b": 40}' } },
          { id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city": "Lisbon"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '{"sum":42}' },
      { role: 'tool', tool_call_id: 'call_w', content: 'Sunny in Lisbon' },
    ]);

    expect(result.rounds).toBe(2);
    expect(result.text).toBe('Let me check.\n\n42, and sunny.');
    expect(result.usage).toMatchObject({ promptTokens: 40, completionTokens: 9, costSource: 'openrouter' });
    expect(result.usage.costUsd).toBeCloseTo(0.003, 12);
    expect(events.filter((e) => e.type === 'usage')).toHaveLength(2);
    expect(result.finishReason).toBe('stop');
  });

  it('sends invalid JSON, schema errors, unknown tools and throws back to the model as error results', async () => {
    const { registry } = makeRegistry();
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue(
      {
        toolCalls: [
          { id: 'c1', name: 'add', arguments: '{"a": 1, "b": ' },
          { id: 'c2', name: 'add', arguments: '{"a": "one", "b": 2}' },
          { id: 'c3', name: 'nope', arguments: '{}' },
          { id: 'c4', name: 'explode', arguments: '' },
        ],
      },
      { text: ['sorry'] },
    );
    const events = await collect(service.chat(hello, { context, tools: ['add', 'explode'] }));
    expect(doneOf(events).text).toBe('sorry');
    const results = events.filter((e) => e.type === 'tool-result');
    expect(results.map((r) => r.type === 'tool-result' && r.isError)).toEqual([true, true, true, true]);
    const contents = results.map((r) => (r.type === 'tool-result' ? (JSON.parse(r.content) as { error: string }).error : ''));
    expect(contents[0]).toMatch(/not valid JSON/);
    expect(contents[1]).toMatch(/invalid arguments for add/);
    expect(contents[2]).toBe('the tool "nope" is not available here');
    expect(contents[3]).toBe('kaboom');
    const toolMessages = fake.chatRequests()[1]!.body!.messages.filter((m) => m.role === 'tool');
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('a tool not offered in this round never runs: a disabled built-in, a plugin tool not enabled here and a made-up name get "not available here" and a warning', async () => {
    const { registry, calls } = makeRegistry();
    let pluginRan = false;
    registry.register(
      defineTool({
        name: 'plugin_secret',
        description: 'A plugin tool enabled in another channel only',
        input: z.object({}),
        execute: () => {
          pluginRan = true;
          return 'leaked';
        },
      }),
    );
    const { service, context, log } = makeHarness(fake, { registry });
    fake.enqueue(
      {
        toolCalls: [
          { id: 'c_add', name: 'add', arguments: '{"a": 1, "b": 2}' },
          { id: 'c_weather', name: 'weather', arguments: '{"city": "Oslo"}' },
          { id: 'c_plugin', name: 'plugin_secret', arguments: '{}' },
          { id: 'c_made_up', name: 'rm_rf', arguments: '{}' },
        ],
      },
      { text: ['done'] },
    );
    const events = await collect(service.chat(hello, { context, tools: ['add'] }));

    expect(doneOf(events).text).toBe('done');
    expect(calls).toEqual([{ name: 'add', input: { a: 1, b: 2 } }]);
    expect(pluginRan).toBe(false);
    expect(fake.chatRequests()[0]!.body!.tools!.map((t) => t.function!.name)).toEqual(['add']);
    const results = events.filter((e) => e.type === 'tool-result');
    expect(results).toEqual([
      { type: 'tool-result', callId: 'c_add', name: 'add', content: '{"sum":3}', isError: false },
      ...['weather', 'plugin_secret', 'rm_rf'].map((name) => ({
        type: 'tool-result',
        callId: expect.any(String),
        name,
        content: JSON.stringify({ error: `the tool "${name}" is not available here` }),
        isError: true,
      })),
    ]);
    const warnings = log.entries().filter((e) => e.level === 40 && String(e.msg).includes('not offered'));
    expect(warnings.map((w) => [w.tool, w.requestId])).toEqual([
      ['weather', 'req-1'],
      ['plugin_secret', 'req-1'],
      ['rm_rf', 'req-1'],
    ]);
  });

  it('times out a hanging tool and aborts its signal', async () => {
    const { registry, sawAbort } = makeRegistry();
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue({ toolCalls: [{ id: 'h', name: 'hang', arguments: '{}' }] }, { text: ['gave up'] });
    const started = Date.now();
    const events = await collect(service.chat(hello, { context, tools: ['hang'] }));
    expect(Date.now() - started).toBeLessThan(1000);
    const result = events.find((e) => e.type === 'tool-result');
    expect(result).toMatchObject({ isError: true, content: JSON.stringify({ error: 'the tool timed out after 50 ms' }) });
    expect(sawAbort()).toBe(true);
    expect(doneOf(events).text).toBe('gave up');
  });

  it('stops after maxRounds and makes the model answer without calling tools', async () => {
    const { registry } = makeRegistry();
    const { service, context } = makeHarness(fake, { registry });
    const again = { toolCalls: [{ name: 'add', arguments: '{"a":1,"b":1}' }] };
    fake.enqueue(again, again, { text: ['final answer'] });
    const result = doneOf(await collect(service.chat(hello, { context, tools: ['add'], maxRounds: 2 })));
    expect(result.rounds).toBe(3);
    expect(result.text).toBe('final answer');
    const requests = fake.chatRequests();
    expect(requests).toHaveLength(3);
    expect(requests[0]!.body!.tool_choice).toBeUndefined();
    expect(requests[1]!.body!.tool_choice).toBeUndefined();
    expect(requests[2]!.body!.tool_choice).toBe('none');
  });

  it('uses the configured default of rounds and ends even if the model insists', async () => {
    const { registry } = makeRegistry();
    const { service, context } = makeHarness(fake, { registry, maxToolRounds: 1 });
    fake.setDefault(() => ({ toolCalls: [{ name: 'add', arguments: '{"a":1,"b":1}' }] }));
    const result = doneOf(await collect(service.chat(hello, { context, tools: ['add'] })));
    expect(result.rounds).toBe(2);
    expect(result.finishReason).toBe('tool_calls');
  });

  it('does not send tools to a model without tool support, or one the catalog does not know', async () => {
    const { registry } = makeRegistry();
    const { service, context, log } = makeHarness(fake, { registry });
    doneOf(await collect(service.chat({ ...hello, model: 'meta-llama/llama-3.1-8b-instruct:free' }, { context, tools: ['add'] })));
    doneOf(await collect(service.chat({ ...hello, model: 'someone/unknown-model' }, { context, tools: ['add'] })));
    expect(fake.chatRequests().map((r) => r.body!.tools)).toEqual([undefined, undefined]);
    expect(log.entries().some((e) => e.msg === 'model is not in the catalog; sending no tools' && e.level === 40)).toBe(true);
  });

  it('does not send tools when the catalog is unavailable, and still answers', async () => {
    fake.modelsStatus = 500;
    const { registry } = makeRegistry();
    const { service, context } = makeHarness(fake, { registry });
    const result = doneOf(await collect(service.chat(hello, { context, tools: ['add'] })));
    expect(result.text).toBe('You said: hello there');
    expect(fake.chatRequests()[0]!.body!.tools).toBeUndefined();
  });

  it('aborts during a tool run and reports aborted', async () => {
    const registry = new ToolRegistry(5000);
    registry.register(
      defineTool({
        name: 'slow',
        description: 'slow',
        input: z.object({}),
        execute: (_input, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('stopped'))),
      }),
    );
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue({ text: ['working'], toolCalls: [{ name: 'slow', arguments: '{}' }] });
    const controller = new AbortController();
    const events: StreamEvent[] = [];
    for await (const e of service.chat({ ...hello, signal: controller.signal }, { context, tools: ['slow'] })) {
      events.push(e);
      if (e.type === 'tool-call') setTimeout(() => controller.abort(), 10);
    }
    const event = errorOf(events);
    expect(event.error.kind).toBe('aborted');
    expect(event.partialText).toBe('working');
    expect(event.usage.promptTokens).toBeGreaterThan(0);
    expect(fake.chatRequests()).toHaveLength(1);
  });
});

describe('hooks', () => {
  it('denies, rewrites and observes tool calls in registration order', async () => {
    const { registry, calls } = makeRegistry();
    const observed: ToolResultInfo[] = [];
    registry.addHooks({
      beforeToolCall: (call) => {
        if (call.name === 'weather') return { action: 'deny', reason: 'weather is off today' };
        if (call.name === 'add') return { action: 'rewrite', args: { a: 100, b: 1 } };
      },
    });
    registry.addHooks({
      afterToolCall: (result) => {
        observed.push(result);
      },
    });
    registry.addHooks({
      afterToolCall: () => {
        throw new Error('observer bug');
      },
    });
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue(
      {
        toolCalls: [
          { id: 'a', name: 'add', arguments: '{"a":1,"b":2}' },
          { id: 'w', name: 'weather', arguments: '{"city":"Oslo"}' },
        ],
      },
      { text: ['done'] },
    );
    const events = await collect(service.chat(hello, { context, tools: ['add', 'weather'] }));
    doneOf(events);
    expect(calls).toEqual([{ name: 'add', input: { a: 100, b: 1 } }]);
    const results = events.filter((e) => e.type === 'tool-result');
    expect(results).toEqual([
      { type: 'tool-result', callId: 'a', name: 'add', content: '{"sum":101}', isError: false },
      { type: 'tool-result', callId: 'w', name: 'weather', content: '{"error":"weather is off today"}', isError: true },
    ]);
    // Calls run in parallel, so observers see them in completion order.
    const seen = observed.map((o) => ({ name: o.name, args: o.args, isError: o.isError })).sort((x, y) => x.name.localeCompare(y.name));
    expect(seen).toEqual([
      { name: 'add', args: { a: 100, b: 1 }, isError: false },
      { name: 'weather', args: { city: 'Oslo' }, isError: true },
    ]);
    expect(observed.every((o) => typeof o.durationMs === 'number')).toBe(true);
  });

  it('treats a throwing beforeToolCall hook as a deny', async () => {
    const { registry, calls } = makeRegistry();
    registry.addHooks({
      beforeToolCall: () => {
        throw new Error('policy service down');
      },
    });
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue({ toolCalls: [{ name: 'add', arguments: '{"a":1,"b":2}' }] }, { text: ['ok'] });
    const events = await collect(service.chat(hello, { context, tools: ['add'] }));
    expect(calls).toEqual([]);
    expect(events.find((e) => e.type === 'tool-result')).toMatchObject({ isError: true });
  });

  it('rejects a rewrite that does not fit the schema', async () => {
    const { registry, calls } = makeRegistry();
    registry.addHooks({ beforeToolCall: () => ({ action: 'rewrite', args: { a: 'nope' } }) });
    const { service, context } = makeHarness(fake, { registry });
    fake.enqueue({ toolCalls: [{ name: 'add', arguments: '{"a":1,"b":2}' }] }, { text: ['ok'] });
    const events = await collect(service.chat(hello, { context, tools: ['add'] }));
    expect(calls).toEqual([]);
    expect(events.find((e) => e.type === 'tool-result')).toMatchObject({ isError: true });
  });

  it('runs beforeRequest once (rewrites apply, throws are ignored) and afterRequest with the outcome', async () => {
    const registry = new ToolRegistry();
    let beforeCalls = 0;
    const outcomes: RequestOutcome[] = [];
    registry.addHooks({
      beforeRequest: (request) => {
        beforeCalls++;
        return { ...request, model: 'anthropic/claude-3.5-sonnet', messages: [{ role: 'system', content: 'Be brief.' }, ...request.messages] };
      },
    });
    registry.addHooks({
      beforeRequest: () => {
        throw new Error('hook bug');
      },
      afterRequest: (outcome) => {
        outcomes.push(outcome);
      },
    });
    const { service, context } = makeHarness(fake, { registry });
    const result = doneOf(await collect(service.chat(hello, { context })));
    expect(beforeCalls).toBe(1);
    const body = fake.chatRequests()[0]!.body!;
    expect(body.model).toBe('anthropic/claude-3.5-sonnet');
    expect(body.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    expect(result.modelRequested).toBe('anthropic/claude-3.5-sonnet');
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ type: 'done', result: { text: 'You said: hello there' } });

    fake.enqueue({ status: 402 });
    errorOf(await collect(service.chat(hello, { context })));
    expect(outcomes[1]).toMatchObject({ type: 'error', event: { error: { kind: 'out_of_credits' } } });
  });

  it('skips hooks without a request context', async () => {
    const registry = new ToolRegistry();
    let called = false;
    registry.addHooks({ beforeRequest: () => void (called = true) });
    const { service } = makeHarness(fake, { registry });
    doneOf(await collect(service.chat(hello)));
    expect(called).toBe(false);
  });
});
