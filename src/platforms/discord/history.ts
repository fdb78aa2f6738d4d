/**
 * Which Discord messages make up a conversation, as history for the core: a
 * reply chain (walked back through message references), a thread (its earlier
 * messages, starting with the message it was opened from) or a DM channel.
 */
import { Routes, type REST } from 'discord.js';
import type { HistoryMessage } from '../../core/conversation.ts';
import type { AdapterHost } from '../../core/host.ts';
import type { AnswerRecord } from '../../store/types.ts';
import { fromRawAttachment, fromRecordedFile, type RawAttachment } from './attachments.ts';
import { PLATFORM } from './limits.ts';

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
  attachments?: RawAttachment[];
}

/** Removes mentions of the bot from a prompt. */
export function stripBotMention(content: string, botId: string): string {
  return content.replace(new RegExp(`<@!?${botId}>`, 'g'), '').trim();
}

export function displayName(author: RawMessage['author']): string {
  return author.global_name ?? author.username;
}

/**
 * Turns raw messages (oldest first) into history. What the bot wrote is read
 * from its records, never from its text: an answer's pieces are joined, a
 * thread's opening question is the asker's turn, and a bot message without a
 * record (a placeholder, a notice) is not part of the conversation.
 * `questionAtRoot`: the first message is an answer that does not show its
 * question (an /ask reply at the root of a reply chain); its record supplies it.
 */
export function toHistory(
  messages: readonly RawMessage[],
  botId: string,
  records: ReadonlyMap<string, AnswerRecord>,
  options: { questionAtRoot?: boolean } = {},
): HistoryMessage[] {
  const history: HistoryMessage[] = [];
  let lastAnswer: string | null | undefined;
  messages.forEach((message, index) => {
    const at = new Date(message.timestamp);
    const record = message.author.id === botId ? records.get(message.id) : undefined;
    if (!record) {
      lastAnswer = undefined;
      if (message.author.id === botId || message.author.bot) return;
      const text = stripBotMention(message.content, botId);
      const files = (message.attachments ?? []).map(fromRawAttachment);
      if (text !== '' || files.length > 0) {
        history.push({ role: 'user', text, at, authorId: message.author.id, authorName: displayName(message.author), ...(files.length > 0 ? { attachments: files } : {}) });
      }
      return;
    }
    if (record.kind === 'question' || (index === 0 && options.questionAtRoot && record.prompt !== null)) {
      const text = record.kind === 'question' ? record.text : record.prompt!;
      const files = record.kind === 'answer' ? (record.promptFiles ?? []).map(fromRecordedFile) : [];
      history.push({ role: 'user', text, at, authorId: record.askerId ?? undefined, authorName: record.askerName ?? undefined, ...(files.length > 0 ? { attachments: files } : {}) });
      lastAnswer = undefined;
      if (record.kind === 'question') return;
    }
    if (record.text.trim() === '') return;
    const previous = history.at(-1);
    if (previous?.role === 'assistant' && lastAnswer === record.requestId) previous.text += `\n${record.text}`;
    else history.push({ role: 'assistant', text: record.text, at, ...(record.annotations ? { annotations: record.annotations } : {}) });
    lastAnswer = record.requestId;
  });
  return history;
}

/** Looks up the records of the bot's messages among `messages` (one query per channel) and builds the history. */
export async function readHistory(
  host: Pick<AdapterHost, 'answerRecords'>,
  messages: readonly RawMessage[],
  botId: string,
  options: { questionAtRoot?: boolean } = {},
): Promise<HistoryMessage[]> {
  const byChannel = new Map<string, string[]>();
  for (const message of messages) {
    if (message.author.id !== botId) continue;
    byChannel.set(message.channel_id, [...(byChannel.get(message.channel_id) ?? []), message.id]);
  }
  const records = new Map<string, AnswerRecord>();
  for (const [channelId, ids] of byChannel) {
    for (const [id, record] of await host.answerRecords(PLATFORM, channelId, ids)) records.set(id, record);
  }
  return toHistory(messages, botId, records, options);
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
