/**
 * Messages: a mention of the bot starts a conversation (answered as a reply),
 * a reply to one of its answers continues one (the reply chain is the
 * history), in a thread the thread is the conversation, and DMs need no mention.
 */
import { randomUUID } from 'node:crypto';
import { Routes, type Message } from 'discord.js';
import { runCommand, type CommandUser, type Invocation } from '../../core/commands.ts';
import { splitMessage } from '../../core/split.ts';
import { answerSurface, budgeted, conversationKey, isManager, placeOf, type DiscordContext } from './context.ts';
import { describeDiscordError, isMissingPermissions, MISSING_PERMISSIONS_MESSAGE } from './discord-errors.ts';
import { channelHistory, replyChain, stripBotMention, threadHistory, toHistory, withAskedQuestion, type RawMessage } from './history.ts';
import { MAX_MESSAGE_LENGTH, NO_MENTIONS, type DiscordAnswerSurface } from './surface.ts';

function rawOf(message: Message): RawMessage {
  return {
    id: message.id,
    channel_id: message.channelId,
    content: message.content,
    timestamp: message.createdAt.toISOString(),
    author: { id: message.author.id, username: message.author.username, global_name: message.author.globalName, bot: message.author.bot },
    message_reference: message.reference?.messageId
      ? { message_id: message.reference.messageId, channel_id: message.reference.channelId }
      : undefined,
  };
}

/** Whether the bot should answer this message, and why. */
export function shouldAnswer(message: Message, botId: string): boolean {
  if (message.author.bot || message.webhookId !== null || message.system) return false;
  if (!message.inGuild()) return true;
  if (message.mentions.users.has(botId)) return true;
  if (message.reference?.messageId && message.mentions.repliedUser?.id === botId) return true;
  const channel = message.channel;
  return channel.isThread() && channel.ownerId === botId;
}

export async function handleMessage(ctx: DiscordContext, message: Message): Promise<void> {
  const botId = ctx.botId();
  if (!shouldAnswer(message, botId)) return;
  const command = ctx.core.commands.find((c) => c.name === 'ask');
  if (!command) return;
  const { rest } = ctx;
  const channel = message.channel;
  const place = placeOf(channel, message.guildId);
  const raw = rawOf(message);

  let key: string;
  let loadHistory: () => Promise<RawMessage[]>;
  try {
    if (channel.isThread()) {
      key = conversationKey(channel.id);
      loadHistory = () => threadHistory(rest, { id: channel.id, parentId: channel.parentId }, message.id);
    } else if (!message.inGuild()) {
      key = conversationKey(channel.id);
      loadHistory = () => channelHistory(rest, channel.id, message.id);
    } else if (raw.message_reference) {
      const chain = await replyChain(rest, raw);
      key = conversationKey(chain.rootId);
      const messages = withAskedQuestion(chain.messages, botId, (id) => ctx.asked.get(id));
      loadHistory = async () => messages;
    } else {
      key = conversationKey(message.id);
      loadHistory = async () => [];
    }
  } catch (error) {
    ctx.logger.warn({ err: error, message: message.id }, 'could not read the conversation; answering without history');
    key = conversationKey(message.id);
    loadHistory = async () => [];
  }

  const requestId = randomUUID();
  const user: CommandUser = { id: message.author.id, name: message.member?.displayName ?? message.author.displayName };
  let surface: DiscordAnswerSurface | undefined;
  const history = async () => toHistory(await loadHistory(), botId);
  const prompt = stripBotMention(message.content, botId);
  ctx.retries.set(requestId, { prompt, place, conversationKey: key, history });

  const invocation: Invocation = {
    ...place,
    user,
    conversationKey: key,
    requestId,
    async isPlatformAdmin() {
      if (!message.inGuild()) return false;
      const member = message.member ?? (await message.guild.members.fetch(message.author.id));
      return isManager(member.permissions);
    },
    // No ephemeral messages outside interactions: refusals are a reply only the asker is pinged about.
    async reply(text) {
      for (const content of splitMessage(text, MAX_MESSAGE_LENGTH)) {
        await budgeted(ctx, channel.id, () =>
          rest.post(Routes.channelMessages(channel.id), {
            body: { content, allowed_mentions: NO_MENTIONS, message_reference: { message_id: message.id, fail_if_not_exists: false } },
          }),
        );
      }
    },
    async answerSurface() {
      surface = answerSurface(ctx, { channelId: channel.id, requestId, workspaceId: place.workspaceId, replyTo: message.id });
      return surface;
    },
    history,
  };
  try {
    await runCommand(ctx.core, command, undefined, { prompt }, invocation);
  } finally {
    if (surface) ctx.live.forget(surface.postedIds);
  }
  if (surface?.permissionProblem) await tellMissingPermissions(ctx, message);
}

/** The bot cannot write in the channel: say so in a DM, the one place left. */
async function tellMissingPermissions(ctx: DiscordContext, message: Message): Promise<void> {
  ctx.logger.warn({ channel: message.channelId }, 'missing permissions to answer in a channel');
  try {
    await message.author.send({ content: `${MISSING_PERMISSIONS_MESSAGE} (channel <#${message.channelId}>)`, allowedMentions: NO_MENTIONS });
  } catch (error) {
    if (!isMissingPermissions(error)) ctx.logger.debug({ reason: describeDiscordError(error) }, 'could not DM about missing permissions');
  }
}
