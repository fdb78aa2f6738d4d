/**
 * Reading Slack for the model: a message's text as plain text (the bot's own
 * mention removed, users' names looked up) and a thread's earlier messages.
 * The bot's own messages become assistant turns from their answer records
 * (clean text kept in the store); one without a record, such as the
 * "Thinking…"/Stop message, is not part of the conversation.
 */
import type { HistoryMessage } from '../../core/conversation.ts';
import type { AnswerRecord } from '../../store/types.ts';
import { PLATFORM, type SlackDeps } from './deps.ts';
import { slackAttachments, type SlackFile } from './files.ts';
import { mentionedUserIds, slackTextToPlain } from './mrkdwn.ts';

/** Earlier thread messages read for context. */
const MAX_HISTORY_MESSAGES = 400;

interface RawMessage {
  ts?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  subtype?: string;
  files?: SlackFile[];
}

export function isOwnMessage(deps: SlackDeps, message: { user?: string; bot_id?: string }): boolean {
  const bot = deps.bot();
  return bot !== undefined && (message.user === bot.userId || message.bot_id === bot.botId);
}

/** Slack text -> plain text for the model, with mentioned users' names looked up. */
export async function toPlain(deps: SlackDeps, text: string): Promise<string> {
  const bot = deps.bot();
  const stripped = bot ? text.replace(new RegExp(`<@${bot.userId}(\\|[^>]*)?>`, 'g'), ' ').replace(/[ \t]+/g, ' ').trim() : text;
  // A message full of mentions costs at most MAX_NAME_LOOKUPS users.info calls; the rest stay ids.
  await Promise.all(mentionedUserIds(stripped).slice(0, MAX_NAME_LOOKUPS).map((id) => deps.directory.nameOf(id)));
  return slackTextToPlain(stripped, (id) => deps.directory.cachedName(id));
}

/** Names looked up per message for the users it mentions. */
export const MAX_NAME_LOOKUPS = 10;

async function fetchReplies(deps: SlackDeps, channel: string, threadTs: string): Promise<RawMessage[]> {
  const raw: RawMessage[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.client.conversations.replies({ channel, ts: threadTs, limit: 200, ...(cursor ? { cursor } : {}) });
    raw.push(...((page.messages ?? []) as RawMessage[]));
    cursor = page.response_metadata?.next_cursor || undefined;
  } while (cursor && raw.length < MAX_HISTORY_MESSAGES);
  return raw;
}

const isConversational = (m: RawMessage) => m.subtype === undefined || m.subtype === 'thread_broadcast' || m.subtype === 'bot_message' || m.subtype === 'file_share';

/** The thread's messages before `beforeTs`, oldest first. */
export async function readThread(deps: SlackDeps, channel: string, threadTs: string, beforeTs: string): Promise<HistoryMessage[]> {
  const raw = await fetchReplies(deps, channel, threadTs);
  const earlier = raw.filter((m): m is RawMessage & { ts: string } => m.ts !== undefined && Number(m.ts) < Number(beforeTs) && isConversational(m));
  const own = earlier.filter((m) => isOwnMessage(deps, m)).map((m) => m.ts);
  const authors = [...new Set(earlier.flatMap((m) => (m.user && !isOwnMessage(deps, m) ? [m.user] : [])))];
  const [records] = await Promise.all([deps.host.answerRecords(PLATFORM, channel, own), ...authors.map((id) => deps.directory.nameOf(id))]);
  const history: HistoryMessage[] = [];
  for (const m of earlier) {
    const at = new Date(Number(m.ts) * 1000);
    if (isOwnMessage(deps, m)) {
      const record = records.get(m.ts);
      if (record) history.push(fromRecord(record, at));
      continue;
    }
    const text = await toPlain(deps, m.text ?? '');
    const authorName = m.user ? (deps.directory.cachedName(m.user) ?? m.user) : 'another app';
    const files = slackAttachments(deps, m.files);
    history.push({ role: 'user', text, at, authorId: m.user ?? m.bot_id, authorName, ...(files.length > 0 ? { attachments: files } : {}) });
  }
  return history;
}

function fromRecord(record: AnswerRecord, at: Date): HistoryMessage {
  if (record.kind === 'answer') return { role: 'assistant', text: record.text, at, ...(record.annotations ? { annotations: record.annotations } : {}) };
  return { role: 'user', text: record.text, at, authorId: record.askerId ?? undefined, authorName: record.askerName ?? undefined };
}

/** Resolves a user mention or id to a known user (commands' user options). */
export async function lookupUser(deps: SlackDeps, ref: string): Promise<{ id: string; name: string } | undefined> {
  const user = await deps.directory.user(ref);
  return user ? { id: user.id, name: user.name } : undefined;
}
