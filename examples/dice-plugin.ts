/**
 * An example Switchboard plugin: a `roll_dice` tool and a hook that keeps a
 * tool away from one channel. Enable it with
 *   PLUGINS=./examples/dice-plugin.ts
 * and `/tools enable roll_dice` in a channel.
 */
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { definePlugin } from '../src/tools/plugins.ts';
import { defineTool } from '../src/tools/types.ts';

export const rollDice = defineTool({
  name: 'roll_dice',
  description: 'Roll dice, e.g. three six-sided dice.',
  input: z.object({
    count: z.number().int().min(1).max(20).describe('How many dice'),
    sides: z.number().int().min(2).max(1000).describe('Sides per die'),
  }),
  execute({ count, sides }) {
    const rolls = Array.from({ length: count }, () => randomInt(1, sides + 1));
    return { rolls, total: rolls.reduce((a, b) => a + b, 0) };
  },
});

export default definePlugin(({ registry, logger }) => {
  registry.register(rollDice);
  registry.addHooks({
    beforeToolCall(call, ctx) {
      if (call.name === 'roll_dice' && ctx.channelId === 'serious-business') {
        return { action: 'deny', reason: 'No dice in this channel.' };
      }
    },
    afterToolCall(result) {
      logger.debug({ tool: result.name, ms: result.durationMs }, 'tool finished');
    },
  });
});
