/**
 * A manual clock for tests: sleeps resolve only when the test advances time,
 * in time order, letting promise chains settle between timers.
 */
import type { Clock } from '../../src/core/types.ts';

export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): Promise<void>;
  /** Fires timers until none are left (throws after `maxTimers`, a runaway loop). */
  runAll(maxTimers?: number): Promise<void>;
  /** Advances time until `promise` settles; throws if it is still pending with no timer left. */
  runUntil<T>(promise: Promise<T>, maxTimers?: number): Promise<T>;
  /** Lets pending promise callbacks run without moving time. */
  settle(): Promise<void>;
  pendingTimers(): number;
}

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

export function createFakeClock(startAt = 0): FakeClock {
  let now = startAt;
  let seq = 0;
  let timers: Timer[] = [];

  const settle = async () => {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };

  const nextDue = (limit: number): Timer | undefined => {
    let best: Timer | undefined;
    for (const timer of timers) {
      if (timer.at <= limit && (!best || timer.at < best.at || (timer.at === best.at && timer.seq < best.seq))) {
        best = timer;
      }
    }
    return best;
  };

  const fireNext = async (limit: number): Promise<boolean> => {
    await settle();
    const timer = nextDue(limit);
    if (!timer) return false;
    timers = timers.filter((t) => t !== timer);
    now = Math.max(now, timer.at);
    timer.fire();
    await settle();
    return true;
  };

  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        const reason = () => (signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        if (signal?.aborted) {
          reject(reason());
          return;
        }
        const timer: Timer = {
          at: now + Math.max(0, ms),
          seq: seq++,
          fire: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          timers = timers.filter((t) => t !== timer);
          reject(reason());
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        timers.push(timer);
      });
    },
    async advance(ms) {
      const target = now + ms;
      while (await fireNext(target)) {
        // keep firing
      }
      now = Math.max(now, target);
      await settle();
    },
    async runAll(maxTimers = 100_000) {
      for (let fired = 0; await fireNext(Infinity); fired++) {
        if (fired >= maxTimers) throw new Error(`fake clock: more than ${maxTimers} timers fired`);
      }
    },
    async runUntil<T>(promise: Promise<T>, maxTimers = 100_000): Promise<T> {
      let settled = false;
      promise.then(
        () => (settled = true),
        () => (settled = true),
      );
      for (let fired = 0; ; fired++) {
        await settle();
        if (settled) return promise;
        if (fired >= maxTimers) throw new Error(`fake clock: more than ${maxTimers} timers fired`);
        if (!(await fireNext(Infinity))) {
          await settle();
          if (settled) return promise;
          throw new Error('fake clock: the promise is still pending and no timer is left');
        }
      }
    },
    settle,
    pendingTimers: () => timers.length,
  };
}
