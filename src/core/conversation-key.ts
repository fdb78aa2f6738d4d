/**
 * The one conversation-key scheme: platform, workspace, channel, and the root
 * of a thread or reply chain. Adapters only say where a message sits; the core
 * turns that into keys, so /ask, mentions, /new and history agree everywhere.
 */
import { createHash } from 'node:crypto';

/** Where a conversation lives. No root: the channel as a whole (a DM, a Discord thread, the terminal). */
export interface ConversationRef {
  platform: string;
  workspaceId: string;
  channelId: string;
  /** The channel a Discord thread lives in: a /new there covers the thread too. */
  parentChannelId?: string;
  /** A Slack thread's ts, or the first message of a Discord reply chain. */
  rootId?: string;
  /** How people call this place, when "this channel"/"this thread" would not fit (e.g. "this terminal chat"). */
  label?: string;
}

/**
 * OpenRouter's `session_id` for a conversation: a hash of its key (never the
 * platform's ids themselves), the same for every follow-up and different for
 * every conversation; 67 characters, well under OpenRouter's 256.
 */
export function sessionIdOf(conversationKey: string): string {
  return `sb-${createHash('sha256').update(conversationKey).digest('hex')}`;
}

/** The key history and resets are stored under. */
export function conversationKey(ref: ConversationRef): string {
  const base = channelKey(ref.platform, ref.workspaceId, ref.channelId);
  return ref.rootId === undefined ? base : `${base}:${ref.rootId}`;
}

function channelKey(platform: string, workspaceId: string, channelId: string): string {
  return `${platform}:${workspaceId}:${channelId}`;
}

/**
 * Every key whose reset applies to this conversation, narrowest first: the
 * conversation itself, its channel, and the channel a thread lives in. So a
 * /new in a channel also starts afresh in the threads and reply chains in it.
 */
export function resetKeysOf(ref: ConversationRef): string[] {
  const keys = [conversationKey(ref)];
  if (ref.rootId !== undefined) keys.push(channelKey(ref.platform, ref.workspaceId, ref.channelId));
  if (ref.parentChannelId !== undefined) keys.push(channelKey(ref.platform, ref.workspaceId, ref.parentChannelId));
  return keys;
}

/** What a /new at this place resets, in words for the reply. */
export function describeReset(ref: ConversationRef): string {
  if (ref.label !== undefined) return ref.label;
  if (ref.rootId !== undefined) return 'this thread';
  return ref.parentChannelId !== undefined ? 'this thread' : 'this channel, its threads and reply chains included';
}
