import { z } from 'zod';
import { defineCommand, defineSubcommand, withHints, type CommandContext } from '../src/core/commands.ts';
import type { Core } from '../src/core/core.ts';
import { UserFacingError } from '../src/core/errors.ts';
import { SERVER_TOOLS } from '../src/core/server-tools.ts';

/** The registry's tools and OpenRouter's server tools (web_search), by name. */
function allTools(core: Core): Array<{ name: string; description: string }> {
  return [...core.registry.list(), ...SERVER_TOOLS].sort((a, b) => a.name.localeCompare(b.name));
}

const toolOption = z.object({
  tool: withHints(z.string().trim().min(1).describe('Tool name (see /tools list)'), { autocomplete: 'tool' }),
});

async function toggle(ctx: CommandContext<z.infer<typeof toolOption>>, enable: boolean): Promise<void> {
  const { options, invocation, core, reply } = ctx;
  if (!allTools(core).some((t) => t.name === options.tool)) {
    const names = allTools(core).map((t) => t.name).join(', ');
    throw new UserFacingError('bad-input', `There is no tool \`${options.tool}\`. Tools: ${names || 'none'}.`);
  }
  const current = (await core.settings.resolve(invocation)).tools.value;
  const next = enable ? [...new Set([...current, options.tool])] : current.filter((t) => t !== options.tool);
  await core.settings.set(invocation, 'channel', 'tools', next);
  await reply(`\`${options.tool}\` is ${enable ? 'enabled' : 'disabled'} in this channel. Enabled: ${next.join(', ') || 'none'}.`, {
    ephemeral: true,
  });
}

export default defineCommand({
  name: 'tools',
  description: 'List, enable or disable the tools models may call here',
  subcommands: {
    list: defineSubcommand({
      description: 'List the tools and which are enabled here',
      async execute({ invocation, core, reply }) {
        const enabled = new Set((await core.settings.resolve(invocation)).tools.value);
        const lines = allTools(core).map((t) => `${enabled.has(t.name) ? '✅' : '▫️'} \`${t.name}\`: ${t.description}`);
        await reply(lines.length > 0 ? lines.join('\n') : 'No tools are registered.', { ephemeral: true });
      },
    }),
    enable: defineSubcommand({
      description: 'Let models use a tool in this channel (admins)',
      admin: true,
      options: toolOption,
      execute: (ctx) => toggle(ctx, true),
    }),
    disable: defineSubcommand({
      description: 'Stop models using a tool in this channel (admins)',
      admin: true,
      options: toolOption,
      execute: (ctx) => toggle(ctx, false),
    }),
  },
});
