import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateBudget } from '../../src/core/rate-budget.ts';
import { PlatformRateLimitError } from '../../src/core/types.ts';
import { createFakeClock, type FakeClock } from '../fakes/fake-clock.ts';

const limit = { count: 5, windowMs: 5000 };

/** Largest number of completions inside any window of `windowMs` (a completion at t leaves at t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  let max = 0;
  for (const t of times) max = Math.max(max, times.filter((u) => u > t - windowMs && u <= t).length);
  return max;
}

function recorder(clock: FakeClock, durationMs = 0) {
  const completions: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const call = async <T>(value: T): Promise<T> => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (durationMs > 0) await clock.sleep(durationMs);
    inFlight -= 1;
    completions.push(clock.now());
    return value;
  };
  return { completions, call, maxInFlight: () => maxInFlight };
}

describe('RateBudget', () => {
  it('lets the first calls through at once and holds the rest to the window', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const rec = recorder(clock);
    const all = Promise.all(Array.from({ length: 12 }, (_, i) => budget.run('chan', limit, () => rec.call(i))));
    const results = await clock.runUntil(all);
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(rec.completions).toEqual([0, 0, 0, 0, 0, 5000, 5000, 5000, 5000, 5000, 10000, 10000]);
  });

  it('serializes calls per key in FIFO order', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const rec = recorder(clock, 100);
    const order: number[] = [];
    const all = Promise.all(
      [0, 1, 2, 3].map((i) =>
        budget.run('chan', { count: 100, windowMs: 1000 }, async () => {
          order.push(i);
          return rec.call(i);
        }),
      ),
    );
    await clock.runUntil(all);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(rec.maxInFlight()).toBe(1);
    expect(rec.completions).toEqual([100, 200, 300, 400]);
  });

  it('counts a slot when the call completes, not when it starts', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const rec = recorder(clock, 3000);
    const one = { count: 1, windowMs: 1000 };
    const all = Promise.all([budget.run('c', one, () => rec.call(1)), budget.run('c', one, () => rec.call(2))]);
    await clock.runUntil(all);
    // Second call starts 1000 ms after the first completed (3000), then takes 3000 ms.
    expect(rec.completions).toEqual([3000, 7000]);
  });

  it('keeps keys independent', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const rec = recorder(clock);
    const one = { count: 1, windowMs: 1000 };
    const all = Promise.all([
      budget.run('a', one, () => rec.call('a1')),
      budget.run('a', one, () => rec.call('a2')),
      budget.run('b', one, () => rec.call('b1')),
    ]);
    await clock.runUntil(all);
    expect(rec.completions).toEqual([0, 0, 1000]);
  });

  it('blocks the whole key for retry-after on a PlatformRateLimitError', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const big = { count: 100, windowMs: 1000 };
    const failing = budget.run('chan', big, () => Promise.reject(new PlatformRateLimitError(2500)));
    const next = budget.run('chan', big, async () => clock.now());
    const other = budget.run('other', big, async () => clock.now());
    await expect(clock.runUntil(failing)).rejects.toBeInstanceOf(PlatformRateLimitError);
    expect(await clock.runUntil(other)).toBe(0);
    expect(await clock.runUntil(next)).toBe(2500);
  });

  it('rethrows other errors and still counts the call', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const one = { count: 1, windowMs: 1000 };
    const failing = budget.run('c', one, () => Promise.reject(new Error('boom')));
    await expect(clock.runUntil(failing)).rejects.toThrow('boom');
    expect(budget.nextAvailableIn('c', one)).toBe(1000);
    expect(await clock.runUntil(budget.run('c', one, async () => clock.now()))).toBe(1000);
  });

  it('an aborted queued call rejects without letting the next one overtake', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const rec = recorder(clock, 500);
    const controller = new AbortController();
    const big = { count: 100, windowMs: 1000 };
    const first = budget.run('c', big, () => rec.call(1));
    const second = budget.run('c', big, () => rec.call(2), controller.signal);
    const third = budget.run('c', big, () => rec.call(3));
    controller.abort(new Error('cancelled'));
    await expect(clock.runUntil(second)).rejects.toThrow('cancelled');
    await clock.runUntil(Promise.all([first, third]));
    expect(rec.completions).toEqual([500, 1000]);
    expect(rec.maxInFlight()).toBe(1);
  });

  it('an abort while waiting for the window rejects', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const one = { count: 1, windowMs: 1000 };
    await clock.runUntil(budget.run('c', one, async () => 1));
    const controller = new AbortController();
    const waiting = budget.run('c', one, async () => 2, controller.signal);
    await clock.advance(300);
    controller.abort(new Error('stop'));
    await expect(clock.runUntil(waiting)).rejects.toThrow('stop');
    expect(budget.pending('c')).toBe(0);
  });

  it('reports when the next slot frees up', async () => {
    const clock = createFakeClock();
    const budget = new RateBudget(clock);
    const two = { count: 2, windowMs: 1000 };
    expect(budget.nextAvailableIn('c', two)).toBe(0);
    await clock.runUntil(budget.run('c', two, async () => 1));
    await clock.advance(200);
    await clock.runUntil(budget.run('c', two, async () => 2));
    expect(budget.nextAvailableIn('c', two)).toBe(800);
    budget.block('c', 3000);
    expect(budget.nextAvailableIn('c', two)).toBe(3000);
  });

  it('rejects nonsense limits', async () => {
    const budget = new RateBudget(createFakeClock());
    await expect(budget.run('c', { count: 0, windowMs: 1000 }, async () => 1)).rejects.toThrow(RangeError);
  });

  it('property: never more than count completions per window, never two in flight per key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          count: fc.integer({ min: 1, max: 6 }),
          windowMs: fc.integer({ min: 1, max: 3000 }),
          calls: fc.array(
            fc.record({
              key: fc.constantFrom('a', 'b'),
              delayMs: fc.integer({ min: 0, max: 2000 }),
              durationMs: fc.integer({ min: 0, max: 800 }),
              rateLimitMs: fc.option(fc.integer({ min: 1, max: 2000 }), { freq: 8 }),
            }),
            { maxLength: 30 },
          ),
        }),
        async ({ count, windowMs, calls }) => {
          const clock = createFakeClock();
          const budget = new RateBudget(clock);
          const done: Record<string, number[]> = { a: [], b: [] };
          const inFlight: Record<string, number> = { a: 0, b: 0 };
          const blockedUntil: Record<string, number> = { a: 0, b: 0 };
          let overlap = false;
          let startedWhileBlocked = false;
          const runs = calls.map(async (call) => {
            await clock.sleep(call.delayMs);
            return budget
              .run(call.key, { count, windowMs }, async () => {
                if (clock.now() < blockedUntil[call.key]!) startedWhileBlocked = true;
                inFlight[call.key]! += 1;
                if (inFlight[call.key]! > 1) overlap = true;
                await clock.sleep(call.durationMs);
                inFlight[call.key]! -= 1;
                done[call.key]!.push(clock.now());
                if (call.rateLimitMs !== null) {
                  blockedUntil[call.key] = clock.now() + call.rateLimitMs;
                  throw new PlatformRateLimitError(call.rateLimitMs);
                }
              })
              .catch((error: unknown) => {
                if (!(error instanceof PlatformRateLimitError)) throw error;
              });
          });
          await clock.runUntil(Promise.all(runs));
          expect(overlap).toBe(false);
          expect(startedWhileBlocked).toBe(false);
          for (const key of ['a', 'b']) expect(maxInWindow(done[key]!, windowMs)).toBeLessThanOrEqual(count);
        },
      ),
      { numRuns: 150 },
    );
  });
});
