/**
 * What /models, /model and model autocomplete say about prices, and what
 * /model fallbacks says about the order it sets, against the fake OpenRouter's
 * catalog (routers list a price of -1; some models list none).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modelChoices } from '../../src/platforms/discord/autocomplete.ts';
import { defaultModels, modelEntry, startFakeOpenRouter, type ModelEntry } from '../fakes/openrouter.ts';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { startTestApp, TEST_API_KEY, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };

/** The default fake catalog plus a model without prices and an image generator far pricier than any text model. */
function catalog(): ModelEntry[] {
  return [
    ...defaultModels(),
    modelEntry('mystery/unpriced', { name: 'Mystery', pricing: {} as ModelEntry['pricing'] }),
    modelEntry('pics/image-maker', {
      name: 'Image maker',
      pricing: { prompt: '0.0001', completion: '0.04', request: '0', image: '0.1' },
      architecture: { input_modalities: ['text'], output_modalities: ['image'], tokenizer: 'Other' },
    }),
  ];
}

const NEGATIVE_PRICE = /\$-|-\d/;
const VARIABLE = 'price depends on the model OpenRouter picks';
/** anthropic/claude-3.5-sonnet is the priciest text model of the fake catalog. */
const CEILING = 'up to $3.00 in / $15.00 out per 1M tokens, the priciest text model';

describe('model prices', () => {
  let app: TestApp;
  let h: Harness;
  beforeEach(async () => {
    const openrouter = await startFakeOpenRouter({ apiKey: TEST_API_KEY, models: catalog() });
    app = await startTestApp({ openrouter });
    h = createHarness(app.core);
  });
  afterEach(async () => {
    await app.close();
    await app.openrouter.close();
  });

  it('/models, /model show, /model set and autocomplete show router and unpriced models as "price depends on the model OpenRouter picks", never a negative price', async () => {
    await h.run(ada, 'models', undefined, { search: 'auto' });
    expect(h.lastReply()).toContain(`\`openrouter/auto\` · 2M context · ${VARIABLE} (${CEILING})`);
    expect(h.lastReply()).not.toMatch(NEGATIVE_PRICE);

    await h.run(ada, 'models', undefined, { search: 'mystery' });
    expect(h.lastReply()).toContain(`\`mystery/unpriced\` · 128k context · ${VARIABLE}`);
    expect(h.lastReply()).not.toContain('free');
    await h.run(ada, 'models', undefined, { free: true });
    expect(h.lastReply()).not.toContain('mystery/unpriced');

    await h.run(admin, 'model', 'set', { model: 'openrouter/auto' });
    expect(h.lastReply()).toBe(`The model for this channel is now \`openrouter/auto\` (2M context · ${VARIABLE} (${CEILING})).`);
    await h.run(ada, 'model', 'show', {});
    expect(h.lastReply()).toContain(`2M context · ${VARIABLE} (${CEILING})`);
    expect(h.lastReply()).not.toMatch(NEGATIVE_PRICE);

    const choices = await modelChoices(app.core.host, 'auto');
    expect(choices).toContainEqual({ name: 'openrouter/auto · price varies, up to $3.00 / $15.00 per 1M', value: 'openrouter/auto' });

    // Fixed prices read as before.
    await h.run(ada, 'models', undefined, { search: 'gpt-4o-mini' });
    expect(h.lastReply()).toContain('`openai/gpt-4o-mini` · 128k context · $0.15 in / $0.60 out per 1M tokens');
  });

  it('/model fallbacks shows each model\'s prices and warns when a fallback costs more than the model before it', async () => {
    await h.run(admin, 'model', 'fallbacks', { models: 'meta-llama/llama-3.1-8b-instruct:free anthropic/claude-3.5-sonnet' });
    expect(h.lastReply()).toBe(
      [
        'Fallbacks for this channel: `meta-llama/llama-3.1-8b-instruct:free` → `anthropic/claude-3.5-sonnet`.',
        '1. `openai/gpt-4o-mini` (the model here) · $0.15 in / $0.60 out per 1M tokens',
        '2. `meta-llama/llama-3.1-8b-instruct:free` · free',
        '3. `anthropic/claude-3.5-sonnet` · $3.00 in / $15.00 out per 1M tokens',
        '   ⚠️ costs more than `meta-llama/llama-3.1-8b-instruct:free`: an outage then multiplies the bill.',
      ].join('\n'),
    );

    await h.run(admin, 'model', 'fallbacks', { models: 'openrouter/auto' });
    expect(h.lastReply()).toContain(`2. \`openrouter/auto\` · ${VARIABLE} (${CEILING})\n   ⚠️ costs more than \`openai/gpt-4o-mini\``);

    await h.run(admin, 'model', 'fallbacks', { models: 'meta-llama/llama-3.1-8b-instruct:free' });
    expect(h.lastReply()).not.toContain('⚠️');
  });

  it('/model fallbacks refuses more than 2 fallbacks, naming the limit, and keeps the old ones', async () => {
    await h.run(admin, 'model', 'fallbacks', { models: 'anthropic/claude-3.5-sonnet' });
    await h.run(admin, 'model', 'fallbacks', { models: 'anthropic/claude-3.5-sonnet, meta-llama/llama-3.1-8b-instruct:free openrouter/auto' });
    expect(h.replies.at(-1)).toEqual({
      text: expect.stringContaining('OpenRouter takes at most 2 fallback models (3 models per request with the model itself)'),
      ephemeral: true,
    });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(app.openrouter.chatRequests().at(-1)!.body!.models).toEqual(['openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet']);
  });
});
