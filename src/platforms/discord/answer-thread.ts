/**
 * Where a slash command's answer goes: the thread or DM it was used in, a
 * fresh conversation in a plain channel, or (thread-per-conversation, a
 * Discord decision) a new thread opened from the question.
 */
import { ChannelType, InteractionContextType, MessageFlags, Routes, type ChatInputCommandInteraction } from 'discord.js';
import type { CommandDefinition } from '../../core/commands.ts';
import type { Place } from '../../core/settings.ts';
import { truncate } from '../../util/text.ts';
import { answerSurface, conversationAt, placeOf, PLATFORM, userOf, type Conversation, type DiscordContext } from './context.ts';
import { isMissingPermissions, MISSING_PERMISSIONS_MESSAGE } from './discord-errors.ts';
import { channelHistory, readHistory, threadHistory } from './history.ts';
import { NO_MENTIONS } from './limits.ts';
import { budgeted } from './rate-limit.ts';
import type { InteractionReplier } from './replier.ts';
import type { DiscordAnswerSurface } from './surface.ts';

/** A command's conversation plus where its answer streams. */
export interface CommandConversation extends Conversation {
  surface(requestId: string): DiscordAnswerSurface;
}

export function placeOfInteraction(interaction: { channel: ChatInputCommandInteraction['channel']; channelId: string | null; guildId: string | null }): Place {
  const channel = interaction.channel;
  if (channel) return placeOf(channel, interaction.guildId);
  return placeOf({ id: interaction.channelId ?? 'unknown', isThread: () => false }, interaction.guildId);
}

/** The starter message the bot writes when it opens a thread for a question. */
export function threadStarterText(userId: string, prompt: string): string {
  return `💬 <@${userId}> asked:\n>>> ${truncate(prompt, 1900)}`;
}

export function threadName(prompt: string): string {
  const name = truncate(prompt.replace(/\s+/g, ' ').trim(), 90);
  return name === '' ? 'Conversation' : name;
}

/** The starter shows the question in our words: record it, so the thread's history reads it as the asker's turn. */
async function recordQuestion(ctx: DiscordContext, interaction: ChatInputCommandInteraction, place: Place, messageId: string, prompt: string): Promise<void> {
  const asker = userOf(interaction);
  await ctx.host.recordMessage({
    platform: PLATFORM,
    channelId: place.channelId,
    messageId,
    requestId: null,
    kind: 'question',
    text: prompt,
    askerId: asker.id,
    askerName: asker.name,
    prompt,
    at: new Date(ctx.clock.now()),
  });
}

export function promptOf(command: CommandDefinition, options: Record<string, unknown>): string {
  const value = command.streamsAnswer ? options[command.streamsAnswer.promptOption] : undefined;
  return typeof value === 'string' ? value : '';
}

/** A command that answers nothing in public: threads and DMs are conversations, otherwise the channel is. */
export function commandConversation(interaction: ChatInputCommandInteraction): Conversation {
  const place = placeOfInteraction(interaction);
  return { place, conversation: conversationAt(place) };
}

/** Where a streamed answer goes and what it continues; undefined when it cannot go anywhere (told already). */
export async function answerConversation(
  ctx: DiscordContext,
  interaction: ChatInputCommandInteraction,
  replier: InteractionReplier,
  prompt: string,
  receivedAt: number,
  privately = false,
): Promise<CommandConversation | undefined> {
  const { rest, host } = ctx;
  const botId = ctx.botId();
  const place = placeOfInteraction(interaction);
  const channel = interaction.channel;
  // A private channel (group DM, DM between users) where only the user installed the app: the bot
  // can neither read nor post there, so the answer goes through the interaction alone, without history.
  const privateChannel = interaction.context === InteractionContextType.PrivateChannel;
  const surface = (requestId: string) =>
    answerSurface(ctx, {
      place,
      requestId,
      interaction: { applicationId: interaction.applicationId, token: interaction.token, receivedAt },
      ephemeral: privately,
      interactionOnly: privately || privateChannel,
    });

  if (privateChannel) return { place, conversation: conversationAt(place, interaction.id), surface };
  if (channel?.isThread()) {
    const thread = { id: channel.id, parentId: channel.parentId };
    return { place, conversation: conversationAt(place), history: async () => readHistory(host, await threadHistory(rest, thread), botId), surface };
  }
  if (!interaction.inGuild() || channel?.type === ChannelType.DM) {
    return { place, conversation: conversationAt(place), history: async () => readHistory(host, await channelHistory(rest, place.channelId), botId), surface };
  }
  const canThread = !privately && (channel?.type === ChannelType.GuildText || channel?.type === ChannelType.GuildAnnouncement);
  if (!canThread || prompt.trim() === '' || !(await host.settings(place)).threadPerConversation) {
    return { place, conversation: conversationAt(place, interaction.id), surface };
  }
  return openThread(ctx, interaction, replier, place, prompt);
}

/** One thread per conversation: the deferred reply becomes the thread's starter message, recorded as the question. */
async function openThread(
  ctx: DiscordContext,
  interaction: ChatInputCommandInteraction,
  replier: InteractionReplier,
  place: Place,
  prompt: string,
): Promise<CommandConversation | undefined> {
  replier.markOriginalUsed();
  try {
    const starter = await budgeted(ctx.host.budget, place.channelId, () =>
      interaction.editReply({ content: threadStarterText(interaction.user.id, prompt), allowedMentions: NO_MENTIONS }),
    );
    const thread = (await ctx.rest.post(Routes.threads(place.channelId, starter.id), {
      body: { name: threadName(prompt), auto_archive_duration: 1440 },
    })) as { id: string };
    await recordQuestion(ctx, interaction, place, starter.id, prompt);
    const threadPlace: Place = { ...place, channelId: thread.id, parentChannelId: place.channelId };
    return {
      place: threadPlace,
      conversation: conversationAt(threadPlace),
      surface: (requestId) => answerSurface(ctx, { place: threadPlace, requestId }),
    };
  } catch (error) {
    if (!isMissingPermissions(error)) throw error;
    await interaction.deleteReply().catch(() => undefined);
    await interaction.followUp({ content: MISSING_PERMISSIONS_MESSAGE, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
    return undefined;
  }
}
