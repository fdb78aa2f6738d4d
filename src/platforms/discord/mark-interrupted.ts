/**
 * Crash recovery on Discord: ends an answer another process left half-written
 * with the interrupted note, through the channel route and the bot token (the
 * interaction token of the dead process is not known here).
 */
import { Routes, type REST } from 'discord.js';
import type { RateBudget } from '../../core/rate-budget.ts';
import { withInterruptedNote } from '../../core/recovery.ts';
import { PlatformRateLimitError } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { describeDiscordError, isGone, isRateLimit } from './discord-errors.ts';
import { budgetKeyFor, CHANNEL_RATE_LIMIT, MAX_MESSAGE_LENGTH, NO_MENTIONS } from './surface.ts';

/** 429s waited out before giving up on one message. */
const MAX_RATE_LIMITS = 5;

export function parseMessageRef(ref: string): { channelId: string; messageId: string } {
  const parsed = JSON.parse(ref) as { channelId?: unknown; messageId?: unknown };
  if (typeof parsed.channelId !== 'string' || typeof parsed.messageId !== 'string') {
    throw new TypeError(`not a Discord message reference: ${ref.slice(0, 100)}`);
  }
  return { channelId: parsed.channelId, messageId: parsed.messageId };
}

export async function markInterrupted(
  deps: { rest: REST; budget: RateBudget; logger: Logger },
  ref: string,
  note: string,
): Promise<void> {
  const { channelId, messageId } = parseMessageRef(ref);
  const route = Routes.channelMessage(channelId, messageId);
  let content: string | undefined;
  try {
    const message = (await deps.rest.get(route)) as { content?: string };
    content = withInterruptedNote(message.content ?? '', note, MAX_MESSAGE_LENGTH);
  } catch (error) {
    if (!isGone(error)) throw error;
    deps.logger.info({ channelId, messageId }, 'interrupted answer message is gone; nothing to mark');
    return;
  }
  if (content === undefined) return;
  const body = { content, components: [], allowed_mentions: NO_MENTIONS };
  // The channel's budget is shared with live answers; a 429 blocks it for retry-after and we try again.
  for (let rateLimits = 0; ; rateLimits++) {
    try {
      await deps.budget.run(budgetKeyFor(channelId), CHANNEL_RATE_LIMIT, async () => {
        try {
          await deps.rest.patch(route, { body });
        } catch (error) {
          if (isRateLimit(error)) throw new PlatformRateLimitError(Math.max(error.retryAfter, error.timeToReset, 0), { cause: error });
          throw error;
        }
      });
      return;
    } catch (error) {
      if (error instanceof PlatformRateLimitError && rateLimits < MAX_RATE_LIMITS) continue;
      if (isGone(error)) return;
      throw new Error(`could not mark Discord message ${messageId} interrupted: ${describeDiscordError(error)}`, { cause: error });
    }
  }
}
