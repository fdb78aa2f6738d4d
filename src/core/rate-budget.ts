/**
 * One edit/post budget per channel, shared by every answer streaming into it.
 *
 * Platforms limit message writes per channel, not per message, so two answers
 * in one channel must draw from the same window. A slot is counted when a call
 * completes, not when it is queued: the platform clients queue internally and
 * a call counted early can land in the same window as a later one.
 */
import { PlatformRateLimitError, systemClock, type Clock } from './types.ts';

export interface RateLimit {
  /** Calls allowed to complete per window. */
  count: number;
  windowMs: number;
}

interface KeyState {
  /** Completion times, oldest first, within the longest window seen. */
  completions: number[];
  blockedUntil: number;
  /** Resolves when every call queued so far has finished (FIFO chain). */
  tail: Promise<void>;
  active: number;
  windowMs: number;
}

const SWEEP_EVERY = 64;

export class RateBudget {
  readonly #clock: Clock;
  readonly #keys = new Map<string, KeyState>();
  #runs = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /**
   * Runs `fn` when `key` has a slot: calls per key run one at a time in FIFO
   * order, at most `limit.count` complete per sliding window, and a
   * PlatformRateLimitError from `fn` blocks the whole key for its retry-after
   * (the error is rethrown; the caller decides whether to retry).
   */
  async run<T>(key: string, limit: RateLimit, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    checkLimit(limit);
    const state = this.#state(key, limit);
    const previous = state.tail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The next caller waits for this one and everything before it, even if this one is aborted early.
    state.tail = Promise.all([previous, mine]).then(() => undefined);
    state.active += 1;
    try {
      await untilSettled(previous, signal);
      for (;;) {
        signal?.throwIfAborted();
        const wait = this.#waitMs(state, limit);
        if (wait <= 0) break;
        await this.#clock.sleep(wait, signal);
      }
      try {
        return await fn();
      } catch (error) {
        if (error instanceof PlatformRateLimitError) this.block(key, error.retryAfterMs);
        throw error;
      } finally {
        // Failed calls count too: the request may well have reached the platform.
        state.completions.push(this.#clock.now());
      }
    } finally {
      state.active -= 1;
      release();
      if (++this.#runs % SWEEP_EVERY === 0) this.#sweep();
    }
  }

  /** Milliseconds until `key` could start a call, ignoring calls already queued. */
  nextAvailableIn(key: string, limit: RateLimit): number {
    checkLimit(limit);
    const state = this.#keys.get(key);
    return state ? Math.max(0, this.#waitMs(state, limit)) : 0;
  }

  /** Calls queued or running for `key`. */
  pending(key: string): number {
    return this.#keys.get(key)?.active ?? 0;
  }

  /** Blocks `key` for `ms` (e.g. after a 429 seen elsewhere). */
  block(key: string, ms: number): void {
    const state = this.#keys.get(key) ?? this.#state(key, { count: 1, windowMs: 0 });
    state.blockedUntil = Math.max(state.blockedUntil, this.#clock.now() + Math.max(0, ms));
  }

  #state(key: string, limit: RateLimit): KeyState {
    let state = this.#keys.get(key);
    if (!state) {
      state = { completions: [], blockedUntil: 0, tail: Promise.resolve(), active: 0, windowMs: limit.windowMs };
      this.#keys.set(key, state);
    }
    state.windowMs = Math.max(state.windowMs, limit.windowMs);
    return state;
  }

  #waitMs(state: KeyState, limit: RateLimit): number {
    const now = this.#clock.now();
    const horizon = now - state.windowMs;
    let drop = 0;
    while (drop < state.completions.length && state.completions[drop]! <= horizon) drop += 1;
    if (drop > 0) state.completions.splice(0, drop);
    const inWindow = state.completions.filter((at) => at > now - limit.windowMs);
    let wait = state.blockedUntil - now;
    if (inWindow.length >= limit.count) {
      // The call may start once the count-th most recent completion leaves the window.
      const oldestThatMatters = inWindow[inWindow.length - limit.count]!;
      wait = Math.max(wait, oldestThatMatters + limit.windowMs - now);
    }
    return wait;
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [key, state] of this.#keys) {
      const last = state.completions.at(-1) ?? -Infinity;
      if (state.active === 0 && state.blockedUntil <= now && last <= now - state.windowMs) this.#keys.delete(key);
    }
  }
}

function checkLimit(limit: RateLimit): void {
  if (!(limit.count >= 1) || !(limit.windowMs >= 0)) {
    throw new RangeError(`invalid rate limit ${limit.count} per ${limit.windowMs} ms`);
  }
}

/** Waits for `promise` (which never rejects) unless `signal` aborts first. */
async function untilSettled(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
