import { setImmediate as nextTurn } from 'node:timers';
import { describe, expect, it } from 'vitest';
import { TurnGate } from '../../src/core/turn-gate.ts';

const turnPassed = () => new Promise<void>((resolve) => nextTurn(resolve));

describe('TurnGate', () => {
  it('lets a waiter through on a later turn, never synchronously', async () => {
    const gate = new TurnGate();
    let through = false;
    const waiting = gate.turn().then(() => {
      through = true;
    });
    await Promise.resolve();
    expect(through).toBe(false);
    expect(gate.waiting).toBe(1);
    await waiting;
    expect(through).toBe(true);
    expect(gate.waiting).toBe(0);
  });

  it('keeps arrival order and spreads a burst over turns, growing the batch while turns stay short', async () => {
    let clock = 0;
    const gate = new TurnGate({ targetTurnMs: 10, maxBatch: 8, now: () => clock });
    const order: number[] = [];
    const turnOf: number[] = [];
    let turn = 0;
    const all = Array.from({ length: 30 }, (_, i) =>
      gate.turn().then(() => {
        order.push(i);
        turnOf[i] = turn;
      }),
    );
    // Each turn is quick (1 ms on the fake clock): batches go 1, 2, 4, 8, 8, …
    while (gate.waiting > 0) {
      await turnPassed();
      turn++;
      clock += 1;
    }
    await Promise.all(all);
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const perTurn = new Map<number, number>();
    for (const t of turnOf) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect([...perTurn.values()]).toEqual([1, 2, 4, 8, 8, 7]);
  });

  it('halves the batch when the turn after a release ran long', async () => {
    let clock = 0;
    const gate = new TurnGate({ targetTurnMs: 10, maxBatch: 64, now: () => clock });
    const released: number[] = [];
    let turn = 0;
    const all = Array.from({ length: 50 }, () => gate.turn().then(() => released.push(turn)));
    // Quick turns until the batch is 16, then every turn takes 50 ms.
    const quick = 5;
    while (gate.waiting > 0) {
      await turnPassed();
      turn++;
      clock += turn < quick ? 1 : 50;
    }
    await Promise.all(all);
    const perTurn = new Map<number, number>();
    for (const t of released) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    const sizes = [...perTurn.values()];
    expect(sizes.slice(0, 5)).toEqual([1, 2, 4, 8, 16]);
    // Each long turn halves it: 8, 4, 2, 1, then one a turn.
    expect(sizes.slice(5)).toEqual([8, 4, 2, 1, 1, 1, 1, 1]);
  });

  it('starts the next burst from a batch of one', async () => {
    let clock = 0;
    const gate = new TurnGate({ now: () => clock });
    await Promise.all(Array.from({ length: 10 }, () => gate.turn()));
    clock += 1000;
    let released = 0;
    const next = Array.from({ length: 3 }, () => gate.turn().then(() => released++));
    await turnPassed();
    expect(released).toBe(1);
    await Promise.all(next);
  });
});
