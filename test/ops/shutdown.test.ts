/**
 * Graceful shutdown in-process on a real core (fake OpenRouter, SQLite in
 * memory): a short answer finishes inside the grace period, a long one is cut
 * at its end and settles as 'interrupted', and anyone who asks meanwhile is
 * told the bot is restarting. The multi-process test repeats it on `npm start`.
 */
import { describe, expect, it } from 'vitest';
import { RESTARTING_MESSAGE } from '../../src/core/errors.ts';
import { INTERRUPTED_LINE } from '../../src/core/pipeline.ts';
import type { LedgerEntry } from '../../src/store/types.ts';
import { createShutdown } from '../../src/ops/shutdown.ts';
import { createFakeSurface } from '../fakes/fake-surface.ts';
import { systemClock } from '../../src/core/types.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp } from '../helpers/test-app.ts';

describe('graceful shutdown', () => {
  it('finishes short answers, interrupts long ones after the grace period, refuses new work, then closes and exits 0', async () => {
    const t = await startTestApp();
    t.openrouter.setDefault((body) => {
      const prompt = String(body.messages.at(-1)?.content ?? '');
      return prompt.includes('long')
        ? { text: Array.from({ length: 200 }, (_, i) => `word${i} `), chunkDelayMs: 25 }
        : { text: ['short ', 'and ', 'done'], chunkDelayMs: 40 };
    });
    const h = createHarness(t.core);
    const ada = { id: 'u1', name: 'Ada' };
    const bo = { id: 'u2', name: 'Bo' };
    const long = h.run(ada, 'ask', undefined, { prompt: 'a long one please' });
    const short = h.run(bo, 'ask', undefined, { prompt: 'a short one' });
    await expect.poll(() => t.core.pipeline.running(), { timeout: 2000 }).toBe(2);

    const stopped: string[] = [];
    let ledger: LedgerEntry[] = [];
    let exitCode: number | undefined;
    const shutdown = createShutdown({
      core: t.core,
      adapters: [{ platform: 'test', stop: async () => void stopped.push('test') }],
      graceMs: 600,
      logger: t.core.logger,
      async close() {
        ledger = await t.core.store.ledger({});
        await t.close();
      },
      exit: (code) => {
        exitCode = code;
      },
    });
    const started = Date.now();
    const done = shutdown.run('SIGTERM');

    // New work is refused with the restarting message, on commands and on the pipeline.
    await h.run({ id: 'u3', name: 'Cy' }, 'ask', undefined, { prompt: 'anyone there?' });
    expect(h.lastReply()).toBe(RESTARTING_MESSAGE);
    await h.run({ id: 'u3', name: 'Cy' }, 'usage', undefined, {});
    expect(h.lastReply()).toBe(RESTARTING_MESSAGE);
    const surface = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 50, windowMs: 1000 }, clock: systemClock });
    await expect(
      t.core.pipeline.ask({
        place: { platform: 'test', workspaceId: 'w1', channelId: 'c1' },
        user: { id: 'u3', name: 'Cy' },
        prompt: 'a mention',
        conversationKey: 'k',
        history: async () => [],
        surface: surface.surface,
        isAdmin: false,
      }),
    ).rejects.toMatchObject({ code: 'restarting', message: RESTARTING_MESSAGE });

    await Promise.all([done, long, short]);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(3000);
    expect(exitCode).toBe(0);
    expect(stopped).toEqual(['test']);

    // Ledger: the short one ok, the long one interrupted with the usage it had; nobody else.
    expect(ledger.map((e) => [e.userId, e.outcome]).sort()).toEqual([
      ['u1', 'interrupted'],
      ['u2', 'ok'],
    ]);
    const interrupted = ledger.find((e) => e.userId === 'u1')!;
    expect(interrupted.errorKind).toBe('aborted');

    // What people see: the long answer ends with the interrupted line; the short one normally.
    const [longSurface, shortSurface] = h.surfaces;
    const longText = longSurface!.texts().join('\n');
    expect(longText).toContain('word0 ');
    expect(longText.trimEnd().endsWith(INTERRUPTED_LINE)).toBe(true);
    const shortText = shortSurface!.texts().join('\n');
    expect(shortText).toContain('short and done');
    expect(shortText).not.toContain('interrupted');
    expect(h.replies.filter((r) => r.text === RESTARTING_MESSAGE)).toHaveLength(2);
  });

  it('exits at once when nothing is running, and starts only once', async () => {
    const t = await startTestApp();
    let closes = 0;
    const codes: number[] = [];
    const shutdown = createShutdown({
      core: t.core,
      adapters: [],
      graceMs: 10_000,
      logger: t.core.logger,
      async close() {
        closes++;
        await t.close();
      },
      exit: (code) => void codes.push(code),
    });
    const started = Date.now();
    await Promise.all([shutdown.run('SIGINT'), shutdown.run('SIGTERM')]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(shutdown.started).toBe(true);
    expect(closes).toBe(1);
    expect(codes).toEqual([0]);
  });

  it('refuses an answer that was still waiting for its turn when the shutdown began, before anything is posted or charged', async () => {
    const t = await startTestApp();
    try {
      const surface = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 50, windowMs: 1000 }, clock: systemClock });
      const replies: string[] = [];
      const place = { platform: 'test', workspaceId: 'w1', channelId: 'c1' };
      const waiting = t.core.inbound.handle({
        kind: 'message',
        place,
        user: { id: 'u4', name: 'Di' },
        parts: [{ type: 'text', text: 'in the queue' }],
        conversation: { ...place, rootId: 'm1' },
        port: {
          reply: async (text) => void replies.push(text),
          answerSurface: async () => surface.surface,
          isPlatformAdmin: async () => false,
        },
      });
      // The message is handed in and queued for a turn when the drain starts.
      t.core.draining = true;
      await waiting;
      expect(replies).toEqual([RESTARTING_MESSAGE]);
      expect(surface.messages()).toEqual([]);
      expect(t.openrouter.chatRequests()).toEqual([]);
      expect(await t.core.store.ledger({})).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('refuses a command that was still waiting for its turn when the shutdown began', async () => {
    const t = await startTestApp();
    try {
      const replies: string[] = [];
      const place = { platform: 'test', workspaceId: 'w1', channelId: 'c1' };
      const pending = t.core.inbound.handle({
        kind: 'command',
        name: 'model',
        subcommand: 'show',
        options: {},
        place,
        user: { id: 'u5', name: 'Ed' },
        conversation: place,
        port: { reply: async (text) => void replies.push(text), isPlatformAdmin: async () => false },
      });
      t.core.draining = true;
      await pending;
      expect(replies).toEqual([RESTARTING_MESSAGE]);
    } finally {
      await t.close();
    }
  });
});
