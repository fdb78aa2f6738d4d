import { z } from 'zod';
import { defineCommand, defineSubcommand } from '../src/core/commands.ts';
import { levelOf, scopeOption, scopeWords } from '../src/core/command-options.ts';

export default defineCommand({
  name: 'prompt',
  description: "Show or change this channel's system prompt",
  subcommands: {
    show: defineSubcommand({
      description: 'Show the system prompt used here',
      async execute({ invocation, core, reply }) {
        const s = await core.settings.resolve(invocation);
        await reply(`System prompt _(${s.systemPrompt.source})_:\n> ${s.systemPrompt.value.split('\n').join('\n> ')}`, { ephemeral: true });
      },
    }),
    set: defineSubcommand({
      description: 'Set the system prompt (admins)',
      admin: true,
      options: z.object({
        text: z.string().trim().min(1, 'the prompt cannot be empty').max(4000).describe('The new system prompt'),
        scope: scopeOption,
      }),
      async execute({ options, invocation, core, reply }) {
        const level = levelOf(options.scope);
        await core.settings.set(invocation, level, 'systemPrompt', options.text);
        await reply(`System prompt for ${scopeWords(level)} updated (${options.text.length} characters).`, { ephemeral: true });
      },
    }),
    reset: defineSubcommand({
      description: 'Go back to the inherited system prompt (admins)',
      admin: true,
      options: z.object({ scope: scopeOption }),
      async execute({ options, invocation, core, reply }) {
        const level = levelOf(options.scope);
        await core.settings.reset(invocation, level, ['systemPrompt']);
        await reply(`System prompt for ${scopeWords(level)} reset.`, { ephemeral: true });
      },
    }),
  },
});
