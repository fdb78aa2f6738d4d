import { z } from 'zod';
import { defineCommand } from '../src/core/commands.ts';
import { formatContext } from '../src/core/command-options.ts';
import { formatPrices } from '../src/core/price-label.ts';

export default defineCommand({
  name: 'models',
  description: 'Search the model catalog with context lengths and prices',
  options: z.object({
    search: z.string().trim().max(100).optional().describe('Words to look for in the id, name or description'),
    free: z.boolean().optional().describe('Only free models'),
  }),
  async execute({ options, core, reply }) {
    if (!(await core.catalog.available())) {
      await reply('The model catalog cannot be reached right now; try again in a minute.', { ephemeral: true });
      return;
    }
    const found = await core.catalog.search(options.search ?? '', { free: options.free, limit: 15 });
    if (found.length === 0) {
      await reply(`No model matches \`${options.search ?? ''}\`${options.free ? ' among the free ones' : ''}.`, { ephemeral: true });
      return;
    }
    const lines = found.map((m) => `\`${m.id}\` · ${formatContext(m.contextLength)} context · ${formatPrices(m)}`);
    await reply(lines.join('\n'), { ephemeral: true });
  },
});
