/**
 * Discord's 429s, in one place: discord.js throws a RateLimitError for message
 * writes (see rejectOnRateLimit); the core waits out PlatformRateLimitError.
 */
import type { RateBudget } from '../../core/rate-budget.ts';
import { PlatformRateLimitError, type Clock } from '../../core/types.ts';
import { isRateLimit } from './discord-errors.ts';
import { budgetKeyFor, CHANNEL_RATE_LIMIT } from './limits.ts';

/** A Discord 429 as the core's PlatformRateLimitError; any other error as it is. */
export function toPlatformError(error: unknown): unknown {
  if (isRateLimit(error)) return new PlatformRateLimitError(Math.max(error.retryAfter, error.timeToReset, 0), { cause: error });
  return error;
}

/** Runs `fn`, turning a Discord 429 into PlatformRateLimitError. */
export async function mappingRateLimits<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toPlatformError(error);
  }
}

/**
 * Runs a public write in `channelId` inside the channel's shared budget (the
 * renderer's too): a 429 blocks the budget for its retry-after and the write
 * is tried again, up to `attempts` times.
 */
export async function budgeted<T>(budget: RateBudget, channelId: string, fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await budget.run(budgetKeyFor(channelId), CHANNEL_RATE_LIMIT, () => mappingRateLimits(fn));
    } catch (error) {
      if (!(error instanceof PlatformRateLimitError) || attempt >= attempts) throw error;
    }
  }
}

/** A private write (ephemeral: no channel budget): waits out up to `attempts` 429s. */
export async function retryingRateLimits<T>(clock: Clock, fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await mappingRateLimits(fn);
    } catch (error) {
      if (!(error instanceof PlatformRateLimitError) || attempt >= attempts) throw error;
      await clock.sleep(error.retryAfterMs);
    }
  }
}
