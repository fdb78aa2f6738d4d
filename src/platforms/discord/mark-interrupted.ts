/**
 * Crash recovery on Discord: ends an answer another process left half-written
 * with its last recorded text and the interrupted note, through the channel
 * route and the bot token (the dead process's interaction token is not known here).
 */
import { Routes, type REST } from 'discord.js';
import { formatAnswerText } from '../../core/answer-view.ts';
import type { RateBudget } from '../../core/rate-budget.ts';
import type { Logger } from '../../log.ts';
import { truncate } from '../../util/text.ts';
import { describeDiscordError, isGone } from './discord-errors.ts';
import { MAX_MESSAGE_LENGTH, NO_MENTIONS } from './limits.ts';
import { budgeted } from './rate-limit.ts';

/** 429s waited out before giving up on one message. */
const MAX_RATE_LIMITS = 5;

export function parseMessageRef(ref: string): { channelId: string; messageId: string } {
  const parsed = JSON.parse(ref) as { channelId?: unknown; messageId?: unknown };
  if (typeof parsed.channelId !== 'string' || typeof parsed.messageId !== 'string') {
    throw new TypeError(`not a Discord message reference: ${ref.slice(0, 100)}`);
  }
  return { channelId: parsed.channelId, messageId: parsed.messageId };
}

/** The message's new text: the recorded answer (cut to leave room), then the note. */
export function interruptedContent(ending: { body: string | null; note: string }): string {
  const room = Math.max(0, MAX_MESSAGE_LENGTH - ending.note.length - 2);
  const body = truncate(ending.body ?? '', room);
  const text = formatAnswerText({ body, streaming: false, status: null, footer: null, endLine: { kind: 'interrupted', text: ending.note }, final: true });
  return truncate(text, MAX_MESSAGE_LENGTH);
}

export async function markInterrupted(
  deps: { rest: REST; budget: RateBudget; logger: Logger },
  ref: string,
  ending: { body: string | null; note: string },
): Promise<void> {
  const { channelId, messageId } = parseMessageRef(ref);
  const route = Routes.channelMessage(channelId, messageId);
  const content = interruptedContent(ending);
  try {
    // Already marked (a repeated call): leave the message alone.
    const current = (await deps.rest.get(route)) as { content?: string; components?: unknown[] };
    if (current.content === content && (current.components ?? []).length === 0) return;
    await budgeted(deps.budget, channelId, () => deps.rest.patch(route, { body: { content, components: [], allowed_mentions: NO_MENTIONS } }), MAX_RATE_LIMITS);
  } catch (error) {
    if (isGone(error)) {
      deps.logger.info({ channelId, messageId }, 'interrupted answer message is gone; nothing to mark');
      return;
    }
    throw new Error(`could not mark Discord message ${messageId} interrupted: ${describeDiscordError(error)}`, { cause: error });
  }
}
