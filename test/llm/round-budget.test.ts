/**
 * What the quota's hard caps need from the LLM layer: a say before every round
 * (beforeRound), the auto-router allow-list on the wire, and worst-case prices
 * over every model that may answer.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { matchesModelPattern, worstCasePrice } from '../../src/llm/pricing.ts';
import { promptTokensCeiling, toolTokensCeiling } from '../../src/llm/token-bound.ts';
import type { RoundDecision, RoundPlan } from '../../src/llm/types.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool } from '../../src/tools/types.ts';
import { defaultModels, modelEntry, startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { collect, doneOf, makeHarness } from './helpers.ts';

let fake: FakeOpenRouter;
beforeAll(async () => {
  fake = await startFakeOpenRouter();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

function addTool(): ToolRegistry {
  const registry = new ToolRegistry(1000);
  registry.register(
    defineTool({
      name: 'add',
      description: 'Adds two numbers',
      input: z.object({ a: z.number().describe('first'), b: z.number().describe('second') }),
      execute: (input) => ({ sum: input.a + input.b }),
    }),
  );
  return registry;
}

const ask = { model: 'openai/gpt-4o-mini', maxTokens: 100, messages: [{ role: 'user' as const, content: 'add 1 and 2, then again' }] };
const callAdd = { toolCalls: [{ name: 'add', arguments: '{"a":1,"b":2}' }] };

describe('beforeRound: the quota has a say before every round', () => {
  it('is asked before each round with bounds that grow with the prompt, and what was spent', async () => {
    const h = makeHarness(fake, { registry: addTool() });
    fake.enqueue(callAdd, callAdd, { text: ['3, and 3 again'] });
    const plans: RoundPlan[] = [];
    const events = await collect(
      h.service.chat(ask, {
        tools: ['add'],
        context: h.context,
        beforeRound: async (plan) => {
          plans.push(structuredClone(plan));
          return { send: true, tools: true };
        },
      }),
    );
    expect(doneOf(events).rounds).toBe(3);
    expect(plans.map((p) => p.round)).toEqual([1, 2, 3]);
    expect(plans[0]).toMatchObject({ models: ['openai/gpt-4o-mini'], maxTokens: 100, spent: { costUsd: 0 } });
    expect(plans[0]!.promptTokens).toBe(promptTokensCeiling(ask.messages));
    expect(plans[0]!.toolTokens).toBe(toolTokensCeiling(h.registry.specs(['add'])));
    expect(plans[1]!.promptTokens).toBeGreaterThan(plans[0]!.promptTokens);
    expect(plans[2]!.promptTokens).toBeGreaterThan(plans[1]!.promptTokens);
    expect(plans[2]!.spent.costUsd).toBeGreaterThan(plans[1]!.spent.costUsd);
    expect(plans[1]!.spent.costUsd).toBeGreaterThan(0);
  });

  it('a round refused its tools goes without them (no tools, no tool_choice) and with the lower max_tokens', async () => {
    const h = makeHarness(fake, { registry: addTool() });
    fake.enqueue(callAdd, { text: ['3'] });
    const decisions: RoundDecision[] = [{ send: true, tools: true }, { send: true, tools: false, maxTokens: 40 }];
    const events = await collect(h.service.chat(ask, { tools: ['add'], context: h.context, beforeRound: async () => decisions.shift()! }));
    expect(doneOf(events).text).toBe('3');
    const [first, second] = fake.chatRequests().map((r) => r.body!);
    expect(first!.tools).toHaveLength(1);
    expect(first!.max_tokens).toBe(100);
    expect(second!.tools).toBeUndefined();
    expect(second!.tool_choice).toBeUndefined();
    expect(second!.max_tokens).toBe(40);
    expect(second!.messages.some((m) => m.role === 'tool')).toBe(true);
    expect(h.log.entries().some((l) => l.msg === 'round sent without tools: its cost with them was not allowed')).toBe(true);
  });

  it('a round that may not be sent is not: the answer ends with what it has', async () => {
    const h = makeHarness(fake, { registry: addTool() });
    fake.enqueue(callAdd);
    const decisions: RoundDecision[] = [{ send: true, tools: true }, { send: false }];
    const events = await collect(h.service.chat(ask, { tools: ['add'], context: h.context, beforeRound: async () => decisions.shift()! }));
    const done = doneOf(events);
    expect(done).toMatchObject({ rounds: 1, finishReason: 'limit' });
    expect(fake.chatRequests()).toHaveLength(1);
  });
});

describe('the auto router allow-list on the wire', () => {
  it('sends the auto-router plugin with allowed_models when openrouter/auto may answer, and the fake answers as an allowed model', async () => {
    const h = makeHarness(fake);
    fake.models.push(modelEntry('anthropic/claude-3-haiku', { pricing: { prompt: '0.00000025', completion: '0.00000125' } }));
    await collect(h.service.chat({ ...ask, model: 'openrouter/auto' }, { autoRouterModels: ['anthropic/*'] }));
    await collect(h.service.chat({ ...ask, model: 'openai/gpt-4o-mini', fallbackModels: ['openrouter/auto'] }, { autoRouterModels: ['anthropic/*'] }));
    await collect(h.service.chat({ ...ask, model: 'openai/gpt-4o-mini' }, { autoRouterModels: ['anthropic/*'] }));
    await collect(h.service.chat({ ...ask, model: 'openrouter/auto' }));
    const bodies = fake.chatRequests().map((r) => r.body!);
    expect(bodies[0]!.plugins).toEqual([{ id: 'auto-router', allowed_models: ['anthropic/*'] }]);
    expect(bodies[1]!.plugins).toEqual([{ id: 'auto-router', allowed_models: ['anthropic/*'] }]);
    expect(bodies[2]!.plugins).toBeUndefined();
    expect(bodies[3]!.plugins).toBeUndefined();
  });
});

describe('worst-case prices', () => {
  it('takes each price at its highest over the model and its fallbacks; a :free model is free, its paid fallback is not', async () => {
    const h = makeHarness(fake);
    expect(await worstCasePrice(h.catalog, ['openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet'], [])).toEqual({
      known: true,
      pricing: { prompt: 0.000003, completion: 0.000015, request: 0 },
    });
    expect(await worstCasePrice(h.catalog, ['meta-llama/llama-3.1-8b-instruct:free'], [])).toEqual({ known: true, pricing: { prompt: 0, completion: 0, request: 0 } });
    expect(await worstCasePrice(h.catalog, ['meta-llama/llama-3.1-8b-instruct:free', 'openai/gpt-4o-mini'], [])).toEqual({
      known: true,
      pricing: { prompt: 0.00000015, completion: 0.0000006, request: 0 },
    });
  });

  it('prices openrouter/auto at the priciest allowed model, or without the list at the priciest text model of the catalog', async () => {
    fake.models = [
      ...defaultModels(),
      modelEntry('anthropic/claude-3-haiku', { pricing: { prompt: '0.00000025', completion: '0.00000125' } }),
      modelEntry('openai/o1-pro', { pricing: { prompt: '0.00015', completion: '0.0006' } }),
      modelEntry('image/maker', { pricing: { prompt: '0.001', completion: '0.001' }, architecture: { input_modalities: ['text'], output_modalities: ['image'], tokenizer: 'Other' } }),
    ];
    const h = makeHarness(fake);
    expect(await worstCasePrice(h.catalog, ['openrouter/auto'], ['anthropic/*'])).toEqual({
      known: true,
      pricing: { prompt: 0.000003, completion: 0.000015, request: 0 },
    });
    expect(await worstCasePrice(h.catalog, ['openrouter/auto'], ['anthropic/claude-3-haiku', 'openai/gpt-4o-mini'])).toEqual({
      known: true,
      pricing: { prompt: 0.00000025, completion: 0.00000125, request: 0 },
    });
    // The whole catalog's text models: o1-pro, not the image model.
    expect(await worstCasePrice(h.catalog, ['openrouter/auto'], [])).toEqual({ known: true, pricing: { prompt: 0.00015, completion: 0.0006, request: 0 } });
    expect(await worstCasePrice(h.catalog, ['openrouter/auto'], ['nobody/*'])).toEqual({ known: false, model: 'openrouter/auto', reason: 'not-listed' });
  });

  it('knows no price for a model the catalog does not list, or for any model while the catalog is down', async () => {
    expect(await worstCasePrice(makeHarness(fake).catalog, ['openai/gpt-4o-mini', 'someone/new'], [])).toEqual({ known: false, model: 'someone/new', reason: 'not-listed' });
    fake.modelsStatus = 500;
    const down = makeHarness(fake).catalog;
    expect(await worstCasePrice(down, ['openai/gpt-4o-mini'], [])).toEqual({ known: false, model: 'openai/gpt-4o-mini', reason: 'catalog-unavailable' });
    expect(await worstCasePrice(down, ['openrouter/auto'], ['anthropic/*'])).toEqual({ known: false, model: 'openrouter/auto', reason: 'catalog-unavailable' });
  });

  it('matches allow-list patterns against catalog ids', () => {
    expect(matchesModelPattern('anthropic/claude-3.5-sonnet', 'anthropic/*')).toBe(true);
    expect(matchesModelPattern('anthropic-x/claude', 'anthropic/*')).toBe(false);
    expect(matchesModelPattern('openai/gpt-4o-mini', 'openai/gpt-4o*')).toBe(true);
    expect(matchesModelPattern('openai/gpt-4o-mini', 'openai/gpt-4o')).toBe(false);
  });
});

describe('prompt token bounds', () => {
  it('never fall below the tokens a byte-level tokenizer can make: one per UTF-8 byte, plus framing', () => {
    const cjk = '漢字かな交じり文'.repeat(10);
    const bound = promptTokensCeiling([{ role: 'user', content: cjk }]);
    expect(bound).toBeGreaterThanOrEqual(Buffer.byteLength(cjk));
    expect(toolTokensCeiling([])).toBe(0);
  });
});
