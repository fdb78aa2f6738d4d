import { z } from 'zod';
import { defineTool } from '../types.ts';

export const modelCatalogTool = defineTool({
  name: 'model_catalog',
  description: 'Search the OpenRouter model catalog: ids, context lengths and prices in USD per 1M tokens.',
  input: z.object({
    query: z.string().describe('Words to search for, e.g. "claude" or "llama 70b"'),
    freeOnly: z.boolean().optional().describe('Only free models'),
    limit: z.number().int().min(1).max(20).optional().describe('How many results (default 8)'),
  }),
  async execute({ query, freeOnly, limit }, ctx) {
    if (!(await ctx.catalog.available())) throw new Error('the model catalog is unavailable right now');
    const models = await ctx.catalog.search(query, { free: freeOnly, limit: limit ?? 8 });
    return models.map((m) => ({
      id: m.id,
      name: m.name,
      contextLength: m.contextLength,
      promptUsdPer1M: Number((m.pricing.prompt * 1e6).toFixed(4)),
      completionUsdPer1M: Number((m.pricing.completion * 1e6).toFixed(4)),
      free: m.isFree,
    }));
  },
});
