/**
 * Messages: a mention of the bot starts a conversation (answered as a reply),
 * a reply to one of its answers continues one (the reply chain), in a thread
 * the bot owns the thread is the conversation, and DMs need no mention. The
 * adapter only says where the message sits; the core decides the rest.
 */
import { discordRoles, roleIdsOf } from './roles.ts';
import { Routes, type Message } from 'discord.js';
import type { InboundMessage, InboundPort } from '../../core/inbound.ts';
import { splitMessage } from '../../core/split.ts';
import { fromAttachment } from './attachments.ts';
import { answerSurface, conversationAt, isManager, placeOf, type Conversation, type DiscordContext } from './context.ts';
import { describeDiscordError, isMissingPermissions, MISSING_PERMISSIONS_MESSAGE } from './discord-errors.ts';
import { channelHistory, readHistory, replyChain, stripBotMention, threadHistory, type RawMessage } from './history.ts';
import { MAX_MESSAGE_LENGTH, NO_MENTIONS } from './limits.ts';
import { budgeted } from './rate-limit.ts';
import type { DiscordAnswerSurface } from './surface.ts';

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

/** Whether the message is addressed to the bot (a cheap look; who wrote it is the core's question). */
export function isAddressedToBot(message: Message, botId: string): boolean {
  if (!message.inGuild()) return true;
  if (message.mentions.users.has(botId)) return true;
  if (message.reference?.messageId && message.mentions.repliedUser?.id === botId) return true;
  const channel = message.channel;
  return channel.isThread() && channel.ownerId === botId;
}

/** Bots, webhooks, system messages and the bot itself: the core never answers them. */
function fromABot(message: Message, botId: string): boolean {
  return message.author.bot || message.webhookId !== null || message.system || message.author.id === botId;
}

export async function handleMessage(ctx: DiscordContext, message: Message): Promise<void> {
  const botId = ctx.botId();
  if (!isAddressedToBot(message, botId)) return;
  const isBot = fromABot(message, botId);
  // A bot's message is dropped by the core: spend no requests on where it sits.
  const where = isBot ? ownConversation(message) : await conversationOf(ctx, message);
  const event: InboundMessage = {
    kind: 'message',
    parts: [{ type: 'text', text: stripBotMention(message.content, botId) }],
    ...(message.attachments.size > 0 ? { attachments: [...message.attachments.values()].map(fromAttachment) } : {}),
    conversation: where.conversation,
    place: where.place,
    user: { id: message.author.id, name: message.member?.displayName ?? message.author.displayName, isBot },
    dedupeKeys: [`discord:message:${message.id}`],
    port: messagePort(ctx, message, where),
  };
  await ctx.host.handle(event);
}

/** A conversation rooted at the message itself. */
function ownConversation(message: Message): Conversation {
  const place = placeOf(message.channel, message.guildId);
  return { place, conversation: conversationAt(place, message.id) };
}

/** Where a message sits: its thread, its DM, its reply chain, or a new conversation rooted at it. */
async function conversationOf(ctx: DiscordContext, message: Message): Promise<Conversation> {
  const { rest, host } = ctx;
  const botId = ctx.botId();
  const channel = message.channel;
  const place = placeOf(channel, message.guildId);
  if (channel.isThread()) {
    const thread = { id: channel.id, parentId: channel.parentId };
    return { place, conversation: conversationAt(place), history: async () => readHistory(host, await threadHistory(rest, thread, message.id), botId) };
  }
  if (!message.inGuild()) {
    return { place, conversation: conversationAt(place), history: async () => readHistory(host, await channelHistory(rest, channel.id, message.id), botId) };
  }
  const raw = rawOf(message);
  const repliedTo = raw.message_reference?.message_id;
  if (repliedTo === undefined) return ownConversation(message);
  // Keyed by the message replied to (channel-wide resets still cover it), so the
  // walk up the chain waits until the core's cheap checks have passed.
  const history = async () => {
    try {
      const chain = await replyChain(rest, raw);
      return await readHistory(host, chain.messages, botId, { questionAtRoot: true });
    } catch (error) {
      ctx.logger.warn({ err: error, message: message.id }, 'could not read the reply chain; answering without history');
      return [];
    }
  };
  return { place, conversation: conversationAt(place, repliedTo), history };
}

/** Replies to the message (no ephemeral messages outside interactions), answers as replies to it. */
function messagePort(ctx: DiscordContext, message: Message, where: Conversation): InboundPort {
  let surface: DiscordAnswerSurface | undefined;
  const channelId = message.channelId;
  return {
    // In a server channel the whole channel reads a reply; in a DM only the asker does.
    privateReplies: !message.inGuild(),
    async reply(text) {
      for (const content of splitMessage(text, MAX_MESSAGE_LENGTH)) {
        await budgeted(ctx.host.budget, channelId, () =>
          ctx.rest.post(Routes.channelMessages(channelId), {
            body: { content, allowed_mentions: NO_MENTIONS, message_reference: { message_id: message.id, fail_if_not_exists: false } },
          }),
        );
      }
    },
    async answerSurface(requestId) {
      surface = answerSurface(ctx, { place: where.place, requestId, replyTo: message.id });
      return surface;
    },
    ...(where.history ? { history: where.history } : {}),
    ...discordRoles(ctx.client, message.guildId, message.member ? { id: message.author.id, roleIds: roleIdsOf(message.member) ?? [] } : undefined),
    async isPlatformAdmin() {
      if (!message.inGuild()) return false;
      const member = message.member ?? (await message.guild.members.fetch(message.author.id));
      return isManager(member.permissions);
    },
    async onSettled() {
      if (!surface) return;
      ctx.live.forget(surface.postedIds);
      if (surface.permissionProblem) await tellMissingPermissions(ctx, message);
    },
  };
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
