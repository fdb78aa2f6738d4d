/**
 * Slash commands, autocomplete and buttons. Each listener acknowledges first
 * (well inside Discord's 3 s), then describes the event to the core's one
 * entry point, which decides everything else.
 */
import { discordRoles, roleIdsOf } from './roles.ts';
import { ApplicationCommandOptionType, MessageFlags, type ChatInputCommandInteraction, type CommandInteractionOption, type Interaction } from 'discord.js';
import { wantsPrivateAnswer, type CommandUser } from '../../core/commands.ts';
import type { InboundPort } from '../../core/inbound.ts';
import { acknowledgeOnce } from './acknowledge.ts';
import { optionAttachments } from './attachments.ts';
import { answerConversation, commandConversation, promptOf, type CommandConversation } from './answer-thread.ts';
import { handleAutocomplete } from './autocomplete.ts';
import { handleButton } from './buttons.ts';
import { isManager, userOf, type Conversation, type DiscordContext } from './context.ts';
import { describeDiscordError, MISSING_PERMISSIONS_MESSAGE } from './discord-errors.ts';
import { NO_MENTIONS } from './limits.ts';
import { InteractionReplier } from './replier.ts';
import type { DiscordAnswerSurface } from './surface.ts';

export { threadName } from './answer-thread.ts';

export async function handleInteraction(ctx: DiscordContext, interaction: Interaction): Promise<void> {
  try {
    if (interaction.isChatInputCommand()) await handleCommand(ctx, interaction);
    else if (interaction.isAutocomplete()) await handleAutocomplete(ctx, interaction);
    else if (interaction.isButton()) await handleButton(ctx, interaction);
  } catch (error) {
    // The core answers its own failures; this is for Discord failing us (acks, replies).
    ctx.logger.error({ err: error, interaction: interaction.id, reason: describeDiscordError(error) }, 'interaction failed');
  }
}

export function optionValues(data: readonly CommandInteractionOption[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const option of data) {
    if (option.type === ApplicationCommandOptionType.Subcommand || option.type === ApplicationCommandOptionType.SubcommandGroup) {
      Object.assign(values, optionValues(option.options ?? []));
    } else {
      values[option.name] = option.value;
    }
  }
  return values;
}

async function handleCommand(ctx: DiscordContext, interaction: ChatInputCommandInteraction): Promise<void> {
  const receivedAt = ctx.clock.now();
  const command = ctx.host.commands.find((c) => c.name === interaction.commandName);
  if (!command) {
    await unknownCommand(ctx, interaction);
    return;
  }
  const streams = command.streamsAnswer !== undefined;
  const options = optionValues(interaction.options.data);
  // `/ask private:true`: an ephemeral answer, wherever it is asked.
  const privately = streams && wantsPrivateAnswer(command, options);
  const ephemeral = !streams || privately;
  await acknowledgeOnce(interaction, 'deferred', () => interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {}), { ephemeral, logger: ctx.logger });
  let surface: DiscordAnswerSurface | undefined;
  const replier = new InteractionReplier(ctx, interaction, ephemeral, () => (surface?.postedIds.length ?? 0) > 0);
  const where: (Conversation & Partial<CommandConversation>) | undefined = streams
    ? await answerConversation(ctx, interaction, replier, promptOf(command, options), receivedAt, privately)
    : commandConversation(interaction);
  if (!where) return;
  const port = commandPort(ctx, interaction, replier, where, (s) => (surface = s));
  const attachments = optionAttachments(interaction.options.data);
  await ctx.host.handle({
    ...(attachments.length > 0 ? { attachments } : {}),
    kind: 'command',
    name: command.name,
    subcommand: interaction.options.getSubcommand(false) ?? undefined,
    options,
    conversation: where.conversation,
    place: where.place,
    user: userOf(interaction),
    port,
  });
  if (surface?.permissionProblem) await replier.reply(MISSING_PERMISSIONS_MESSAGE, true);
  await replier.settle();
}

function commandPort(
  ctx: DiscordContext,
  interaction: ChatInputCommandInteraction,
  replier: InteractionReplier,
  where: Conversation & Partial<CommandConversation>,
  onSurface: (surface: DiscordAnswerSurface) => void,
): InboundPort {
  let surface: DiscordAnswerSurface | undefined;
  const makeSurface = where.surface;
  return {
    reply: (text, o) => replier.reply(text, o?.ephemeral ?? false),
    ...(makeSurface
      ? {
          answerSurface: async (requestId: string) => {
            surface = makeSurface(requestId);
            onSurface(surface);
            return surface;
          },
        }
      : {}),
    ...(where.history ? { history: where.history } : {}),
    isPlatformAdmin: async () => isManager(interaction.memberPermissions),
    lookupUser: (ref) => lookupUser(ctx, interaction.guildId, ref),
    ...discordRoles(ctx.client, interaction.guildId, { id: interaction.user.id, roleIds: roleIdsOf(interaction.member) ?? [] }),
    onSettled: () => ctx.live.forget(surface?.postedIds ?? []),
  };
}

/** A command this version never registered (the list changed): say so, and register the current list again. */
async function unknownCommand(ctx: DiscordContext, interaction: ChatInputCommandInteraction): Promise<void> {
  await interaction.reply({
    content: `I don't know \`/${interaction.commandName}\` any more; the command list is being updated, so it should be gone in a minute.`,
    flags: MessageFlags.Ephemeral,
    allowedMentions: NO_MENTIONS,
  });
  await ctx.reregister(`someone used /${interaction.commandName}, which this version does not have`);
}

async function lookupUser(ctx: DiscordContext, guildId: string | null, ref: string): Promise<CommandUser | undefined> {
  const id = /^<@!?(\d+)>$/.exec(ref.trim())?.[1] ?? ref.trim();
  if (!/^\d{5,25}$/.test(id)) return undefined;
  try {
    if (guildId) {
      const guild = await ctx.client.guilds.fetch(guildId);
      const member = await guild.members.fetch(id);
      return { id: member.id, name: member.displayName };
    }
    const user = await ctx.client.users.fetch(id);
    return { id: user.id, name: user.displayName };
  } catch {
    return undefined;
  }
}
