/**
 * Spreads bursts of new answers over event-loop turns. Starting an answer is a
 * run of store calls (synchronous on SQLite), the upstream request and the
 * first platform call, chained through promises that resolve at once: a
 * thousand mentions arriving together used to start in one unbroken run of
 * microtasks that held the event loop for a second or more, so streams already
 * running, heartbeats and health checks all waited for it.
 *
 * Waiters are let through a batch per turn (from setImmediate, so timers and
 * I/O run in between). The batch adapts: when the turn that followed the last
 * release took longer than the target, the next batch halves; when it was
 * quick, it doubles. With no burst a waiter goes through on the next turn,
 * a fraction of a millisecond.
 */
import { setImmediate as nextTurn } from 'node:timers';

export interface TurnGateOptions {
  /** Aim for turns no longer than this (ms). */
  targetTurnMs?: number;
  /** Most waiters let through in one turn. */
  maxBatch?: number;
  now?: () => number;
}

export class TurnGate {
  readonly #queue: Array<() => void> = [];
  readonly #targetMs: number;
  readonly #maxBatch: number;
  readonly #now: () => number;
  #batch = 1;
  #scheduled = false;
  #lastRelease: number | undefined;

  constructor(options: TurnGateOptions = {}) {
    this.#targetMs = options.targetTurnMs ?? 10;
    this.#maxBatch = options.maxBatch ?? 64;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Waiters not yet let through. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves on a later event-loop turn, in arrival order. */
  turn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#queue.push(resolve);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    nextTurn(() => this.#release());
  }

  #release(): void {
    this.#scheduled = false;
    const now = this.#now();
    if (this.#lastRelease !== undefined) {
      // What the previous batch cost shows in how long the loop took to come back.
      const took = now - this.#lastRelease;
      this.#batch = took > this.#targetMs ? Math.max(1, this.#batch >> 1) : Math.min(this.#maxBatch, this.#batch * 2);
    }
    for (let i = 0; i < this.#batch && this.#queue.length > 0; i++) this.#queue.shift()!();
    if (this.#queue.length > 0) {
      this.#lastRelease = now;
      this.#schedule();
    } else {
      // The next burst starts from scratch: one quiet turn says nothing about its cost.
      this.#lastRelease = undefined;
      this.#batch = 1;
    }
  }
}
