/**
 * Which Discord messages make up a conversation, as history for the core: a
 * reply chain (walked back through message references), a thread (its earlier
 * messages, starting with the message it was opened from) or a DM channel.
 */
import { Routes, type REST } from 'discord.js';
import type { HistoryMessage } from '../../core/conversation.ts';

/** Messages of a conversation read at most (the core trims further to fit the model). */
export const HISTORY_LIMIT = 50;

/** The part of a raw API message the history needs. */
export interface RawMessage {
  id: string;
  channel_id: string;
  content: string;
  timestamp: string;
  author: { id: string; username: string; global_name?: string | null; bot?: boolean };
  message_reference?: { message_id?: string; channel_id?: string };
  referenced_message?: RawMessage | null;
  flags?: number;
  /** Set on replies to interactions (an /ask answer). */
  interaction_metadata?: { user?: { id: string; username: string; global_name?: string | null } };
}

/** The footer line the core's renderer ends every answer with ("model · 12 in / 34 out · $0.0001 · 1.2 s"). */
const FOOTER = /^\S+(?: \(fallback for \S+\))? · [\d.,k]+ in \/ [\d.,k]+ out · [^\n]* · \d+(?:\.\d+)? s(?: · [^\n]*)?$/;
/** Lines the renderer adds that are not part of the model's answer. */
const RENDERER_LINE = /^(⚠️|⏹️)/;
const PLACEHOLDER = /^…thinking/;
/** How the bot opens a thread for an /ask (thread-per-conversation). */
const THREAD_STARTER = /^💬 <@!?(\d+)> asked:\n>>> ([\s\S]*)$/;
const LOADING = 1 << 7;

/** Whether a message is the end of an answer (it carries the footer). */
export function hasFooter(text: string): boolean {
  const last = text.slice(text.lastIndexOf('\n\n') + 2);
  return FOOTER.test(last.trim());
}

/** The answer text of a bot message, without the renderer's footer, error line or cursor. */
export function answerText(text: string): string {
  const paragraphs = text.split('\n\n');
  while (paragraphs.length > 0) {
    const last = paragraphs[paragraphs.length - 1]!.trim();
    if (FOOTER.test(last) || RENDERER_LINE.test(last)) paragraphs.pop();
    else break;
  }
  return paragraphs.join('\n\n').replace(/ ▍$/, '').trim();
}

/** The starter message text the bot writes when it opens a thread for /ask. */
export function threadStarterText(userId: string, prompt: string): string {
  const quoted = prompt.length > 1900 ? `${prompt.slice(0, 1899)}…` : prompt;
  return `💬 <@${userId}> asked:\n>>> ${quoted}`;
}

/** Removes mentions of the bot from a prompt. */
export function stripBotMention(content: string, botId: string): string {
  return content.replace(new RegExp(`<@!?${botId}>`, 'g'), '').trim();
}

export function displayName(author: RawMessage['author']): string {
  return author.global_name ?? author.username;
}

/** Turns raw messages (oldest first) into history; consecutive pieces of one answer are joined. */
export function toHistory(messages: readonly RawMessage[], botId: string): HistoryMessage[] {
  const history: HistoryMessage[] = [];
  for (const message of messages) {
    if (message.flags !== undefined && (message.flags & LOADING) !== 0) continue;
    const at = new Date(message.timestamp);
    if (message.author.id === botId) {
      const starter = THREAD_STARTER.exec(message.content);
      if (starter) {
        history.push({ role: 'user', text: starter[2]!, at, authorId: starter[1]!, authorName: undefined });
        continue;
      }
      if (PLACEHOLDER.test(message.content)) continue;
      const text = answerText(message.content);
      if (text === '') continue;
      const previous = history.at(-1);
      if (previous?.role === 'assistant') previous.text += `\n${text}`;
      else history.push({ role: 'assistant', text, at });
      continue;
    }
    if (message.author.bot) continue;
    const text = stripBotMention(message.content, botId);
    if (text === '') continue;
    history.push({ role: 'user', text, at, authorId: message.author.id, authorName: displayName(message.author) });
  }
  return history;
}

/**
 * Walks a reply chain back from `start` (the message being answered, not
 * included). Returns the messages oldest first and the chain's root id.
 */
export async function replyChain(
  rest: REST,
  start: RawMessage,
  limit = HISTORY_LIMIT,
): Promise<{ messages: RawMessage[]; rootId: string }> {
  const chain: RawMessage[] = [];
  let rootId = start.id;
  let next: RawMessage | null | undefined = start.referenced_message;
  let nextRef = start.message_reference;
  while (chain.length < limit && nextRef?.message_id) {
    let message: RawMessage | undefined = next ?? undefined;
    if (!message || message.id !== nextRef.message_id) {
      try {
        message = (await rest.get(Routes.channelMessage(nextRef.channel_id ?? start.channel_id, nextRef.message_id))) as RawMessage;
      } catch {
        // Deleted or unreadable: the chain ends here.
        break;
      }
    }
    chain.push(message);
    rootId = message.id;
    next = message.referenced_message;
    nextRef = message.message_reference;
  }
  return { messages: chain.reverse(), rootId };
}

/** A channel's (thread's, DM's) messages before `beforeId`, oldest first. */
export async function channelHistory(rest: REST, channelId: string, beforeId?: string, limit = HISTORY_LIMIT): Promise<RawMessage[]> {
  const query = new URLSearchParams({ limit: String(Math.min(limit, 100)) });
  if (beforeId) query.set('before', beforeId);
  const messages = (await rest.get(Routes.channelMessages(channelId), { query })) as RawMessage[];
  return messages.reverse();
}

/**
 * A thread's history: the message it was opened from (same id as the thread,
 * in the parent channel) and the thread's messages before `beforeId`.
 */
export async function threadHistory(
  rest: REST,
  thread: { id: string; parentId: string | null },
  beforeId?: string,
): Promise<RawMessage[]> {
  const messages = await channelHistory(rest, thread.id, beforeId);
  if (messages.length >= HISTORY_LIMIT || !thread.parentId) return messages;
  try {
    const starter = (await rest.get(Routes.channelMessage(thread.parentId, thread.id))) as RawMessage;
    return [starter, ...messages];
  } catch {
    // Threads opened without a message, or the starter was deleted.
    return messages;
  }
}

/**
 * An /ask answer does not show its question: put the question (remembered when
 * the answer was posted, or a stand-in after a restart) before the chain's
 * first message when that is such an answer.
 */
export function withAskedQuestion(
  messages: RawMessage[],
  botId: string,
  asked: (messageId: string) => { prompt: string; userId: string; userName: string } | undefined,
): RawMessage[] {
  const root = messages[0];
  if (!root || root.author.id !== botId || !root.interaction_metadata) return messages;
  const known = asked(root.id);
  const user = root.interaction_metadata.user;
  const question: RawMessage = {
    id: `${root.id}-question`,
    channel_id: root.channel_id,
    content: known?.prompt ?? '(a question asked with /ask)',
    timestamp: root.timestamp,
    author: known
      ? { id: known.userId, username: known.userName, global_name: known.userName }
      : { id: user?.id ?? 'unknown', username: user?.username ?? 'someone', global_name: user?.global_name ?? null },
  };
  return [question, ...messages];
}
