/**
 * Fault tests on the platform-neutral core (what the terminal chat runs):
 * the real pipeline, renderer, store and openai SDK against the fake
 * OpenRouter, answering into an in-process fake surface.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findCommand, runCommand, type Invocation } from '../../src/core/commands.ts';
import { systemClock } from '../../src/core/types.ts';
import { createFakeSurface, type FakeSurface, type FakeSurfaceOptions } from '../fakes/fake-surface.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { FAULT_ENV, faultTools, IN_PROGRESS, UPSTREAM_FAULTS } from './cases.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ env: FAULT_ENV });
  for (const tool of faultTools) t.core.registry.register(tool);
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  t.openrouter.reset();
});

const USER = { id: 'alice', name: 'Alice' };

/** Runs /ask as Alice over a fresh fake surface; returns the surface and every reply. */
async function ask(prompt: string, surfaceOptions: Partial<FakeSurfaceOptions> = {}): Promise<{ surface: FakeSurface; replies: string[] }> {
  const surface = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 50, windowMs: 1000 }, budgetKey: 'test:c1', clock: systemClock, ...surfaceOptions });
  const replies: string[] = [];
  const invocation: Invocation = {
    platform: 'test',
    workspaceId: 'w1',
    channelId: 'c1',
    conversationKey: 'test:c1:alice',
    user: USER,
    isPlatformAdmin: async () => false,
    reply: async (text) => {
      replies.push(text);
    },
    answerSurface: async () => surface.surface,
  };
  const found = findCommand(t.core.commands, 'ask')!;
  await runCommand(t.core, found.command, undefined, { prompt }, invocation);
  return { surface, replies };
}

/** Everything a fault must leave behind: one ledger row, no reservation, nothing in progress, a working bot. */
async function expectCleanEnd(surface: FakeSurface, ledgerBefore: number, outcome: string, errorKind: string | null): Promise<void> {
  for (const message of surface.messages()) {
    if (message.deleted) continue;
    expect(message.text).not.toMatch(IN_PROGRESS);
    expect(message.actions).toEqual([]);
  }
  const rows = await t.core.store.ledger({});
  expect(rows).toHaveLength(ledgerBefore + 1);
  expect(rows.at(-1)).toMatchObject({ outcome, errorKind, userId: USER.id });
  const usage = await t.core.store.usage('test', 'w1', USER.id, new Date());
  expect(usage.reserved.requests).toBe(0);
  expect(t.core.pipeline.running()).toBe(0);
  expect(surface.violations).toEqual([]);

  t.openrouter.reset();
  const next = await ask('still alive?');
  expect(next.surface.texts().join('\n')).toMatch(/^You said: still alive\?\n\n.*gpt-4o-mini/);
}

describe('faults on the core (terminal / in-process surface)', () => {
  for (const fault of UPSTREAM_FAULTS) {
    it(fault.name, async () => {
      const before = (await t.core.store.ledger({})).length;
      fault.arrange(t.openrouter);
      const { surface, replies } = await ask(`fault: ${fault.name}`);
      expect(replies).toEqual([]);
      expect(surface.texts().join('\n')).toMatch(fault.shows);
      fault.check?.(t.openrouter);
      await expectCleanEnd(surface, before, fault.outcome, fault.errorKind);
    });
  }

  it('a platform 429 on an edit is waited out and the whole answer still arrives', async () => {
    const before = (await t.core.store.ledger({})).length;
    t.openrouter.enqueue({ text: ['One ', 'two ', 'three ', 'four'], chunkDelayMs: 15 });
    const { surface } = await ask('count', { rateLimitNext: { calls: 2, retryAfterMs: 60 } });
    expect(surface.calls.some((c) => c.outcome === 'rate-limited')).toBe(true);
    expect(surface.texts().join('\n')).toMatch(/^One two three four\n\n.*gpt-4o-mini/);
    await expectCleanEnd(surface, before, 'ok', null);
  });

  it('the answer message deleted while streaming stops the request upstream and settles it as cancelled', async () => {
    const before = (await t.core.store.ledger({})).length;
    t.openrouter.enqueue({ text: ['a ', 'b ', 'c ', 'd ', 'e '], chunkDelayMs: 40, hang: 'after-text' });
    const { surface } = await ask('delete me', { deleteAfter: 1 });
    expect(surface.messages()[0]!.deleted).toBe(true);
    const upstream = t.openrouter.chatRequests().at(-1)!;
    await upstream.finished;
    expect(upstream.aborted).toBe(true);
    await expectCleanEnd(surface, before, 'cancelled', 'aborted');
  });
});
