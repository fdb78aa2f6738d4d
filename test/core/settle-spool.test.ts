/**
 * "A finished answer is always charged": a settle the database refuses for
 * longer than the retries goes to the spool on disk and lands once the
 * database is back, in the background and at the next start, exactly once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createSettleSpool, defaultSpoolDir } from '../../src/core/settle-spool.ts';
import type { MessageSurface } from '../../src/core/types.ts';
import { createStore } from '../../src/store/index.ts';
import type { LedgerEntry, Store } from '../../src/store/types.ts';
import { silentLogger } from '../store/harness.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { waitFor } from '../helpers/wait.ts';

const PG_URL = postgresTestUrl('the settle spool on PostgreSQL');

function surface(): MessageSurface {
  let next = 0;
  return {
    maxMessageLength: 2000,
    rateLimit: { count: 100, windowMs: 1000 },
    budgetKey: 's',
    post: async () => ({ id: `m${++next}` }),
    edit: async () => undefined,
  };
}

const place = { platform: 'test', workspaceId: 'w1', channelId: 'c1' };

function ledgerEntry(requestId: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    requestId,
    at: new Date(),
    ...place,
    userId: 'u1',
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini',
    tokensIn: 10,
    tokensOut: 5,
    costUsd: 0.01,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
    ...over,
  };
}


describe('settle spool', () => {
  let dir: string;
  const apps: TestApp[] = [];
  const stores: Store[] = [];

  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const store of stores.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<TestApp> {
    const app = await startTestApp({ env: { DATABASE_URL: `sqlite:${join(dir, 'switchboard.db')}` } });
    apps.push(app);
    return app;
  }

  it('A finished answer is always charged: a settle failing past its retries is spooled and lands once the database is back, exactly once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-spool-'));
    const first = await start();
    const { store } = first.core;
    first.core.quota.spoolFailedSettles(first.app.spool, [5, 5, 5]);
    const settle = store.settle.bind(store);
    let refused = 0;
    store.settle = async () => {
      refused++;
      throw new Error('connection terminated');
    };
    first.openrouter.enqueue({ text: ['charged ', 'anyway'], usage: { prompt_tokens: 12, completion_tokens: 7, cost: 0.002 } });
    const result = await first.core.pipeline.ask({
      place,
      user: { id: 'u1', name: 'u1' },
      prompt: 'hi',
      conversationKey: 'k',
      history: async () => [],
      surface: surface(),
      isAdmin: false,
    });
    expect(result.outcome).toBe('ok');
    expect(refused).toBe(4);
    // Kept next to the SQLite file, not lost.
    expect(await first.app.spool.pending()).toEqual([result.requestId]);
    expect(readdirSync(join(dir, 'spool')).filter((f) => f.endsWith('.settle.json'))).toHaveLength(1);
    // Still failing: a flush keeps it.
    expect(await first.app.spool.flush()).toBe(0);
    expect(await first.app.spool.pending()).toEqual([result.requestId]);
    // The process goes away before the database is back: its reservation still stands in the store.
    store.settle = settle;
    await first.close();
    apps.splice(0);

    // The next start replays it: one ledger row with the real usage, the reservation released.
    const second = await start();
    await waitFor(async () => (await second.core.store.ledger({})).length === 1, 'the spooled row');
    const [row] = await second.core.store.ledger({});
    expect(row).toMatchObject({ requestId: result.requestId, outcome: 'ok', tokensIn: 12, tokensOut: 7, costUsd: 0.002 });
    await waitFor(async () => (await second.app.spool.pending()).length === 0, 'the spool to empty');
    const usage = await second.core.store.usage('test', 'w1', 'u1', new Date());
    expect(usage.reserved.requests).toBe(0);
    expect(usage.day).toEqual({ requests: 1, tokens: 19, usd: 0.002 });
    // A retried settle after it landed does not double.
    await second.core.store.settle(result.requestId, row!);
    expect(await second.core.store.ledger({})).toHaveLength(1);
    expect((await second.core.store.usage('test', 'w1', 'u1', new Date())).day.requests).toBe(1);
  });

  it.skipIf(!PG_URL)('A finished answer is always charged on PostgreSQL: the ledger table gone for longer than the retries, then back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-spool-'));
    const schema = `sb_spool_${process.pid}_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      const url = new URL(PG_URL!);
      url.searchParams.set('schema', schema);
      const app = await startTestApp({ env: { DATABASE_URL: url.toString(), SPOOL_DIR: join(dir, 'spool') } });
      apps.push(app);
      app.core.quota.spoolFailedSettles(app.app.spool, [5, 5]);
      // The database refuses every settle (as a revoked or missing table would).
      await admin.query(`alter table "${schema}".usage_ledger rename to usage_ledger_away`);
      app.openrouter.enqueue({ text: ['counted'], usage: { prompt_tokens: 8, completion_tokens: 4, cost: 0.001 } });
      const result = await app.core.pipeline.ask({
        place,
        user: { id: 'u1', name: 'u1' },
        prompt: 'hi',
        conversationKey: 'k',
        history: async () => [],
        surface: surface(),
        isAdmin: false,
      });
      expect(result.outcome).toBe('ok');
      expect(await app.app.spool.pending()).toEqual([result.requestId]);
      expect(await app.app.spool.flush()).toBe(0);

      await admin.query(`alter table "${schema}".usage_ledger_away rename to usage_ledger`);
      expect(await app.app.spool.flush()).toBe(1);
      expect(await app.app.spool.flush()).toBe(0);
      const rows = await app.core.store.ledger({});
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ requestId: result.requestId, outcome: 'ok', tokensIn: 8, tokensOut: 4, costUsd: 0.001 });
      const usage = await app.core.store.usage('test', 'w1', 'u1', new Date());
      expect(usage.reserved.requests).toBe(0);
      expect(usage.day).toEqual({ requests: 1, tokens: 12, usd: 0.001 });
    } finally {
      for (const app of apps.splice(0)) await app.close();
      await admin.query(`drop schema if exists "${schema}" cascade`);
      await admin.end();
    }
  });

  it('retries in the background until the database takes it, and two replayers still write one row', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-spool-'));
    const store = await createStore(`sqlite:${join(dir, 'db.sqlite')}`, { logger: silentLogger });
    stores.push(store);
    await store.migrate();
    let down = true;
    const flaky: Pick<Store, 'settle'> = {
      settle: (reservationId, entry) => (down ? Promise.reject(new Error('database away')) : store.settle(reservationId, entry)),
    };
    const spoolDir = join(dir, 'spool');
    const a = createSettleSpool({ dir: spoolDir, store: flaky, logger: silentLogger, intervalMs: 20 });
    const b = createSettleSpool({ dir: spoolDir, store: flaky, logger: silentLogger, intervalMs: 20 });
    const r1 = ledgerEntry('r-1');
    await a.add('r-1', r1);
    // The same settle kept twice is one file.
    await a.add('r-1', r1);
    await b.add(null, ledgerEntry('r-2', { costUsd: 0.5 }));
    expect((await a.pending()).sort()).toEqual(['r-1', 'r-2']);
    a.start();
    b.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(await store.ledger({})).toEqual([]);
    down = false;
    await waitFor(async () => (await a.pending()).length === 0, 'the spool to drain');
    await Promise.all([a.close(), b.close()]);
    const rows = await store.ledger({});
    expect(rows.map((r) => r.requestId).sort()).toEqual(['r-1', 'r-2']);
    expect((await store.usage('test', 'w1', 'u1', new Date())).day).toEqual({ requests: 2, tokens: 30, usd: 0.51 });
    // No temporary file left behind.
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('lives next to the SQLite file, under SPOOL_DIR, or in ./data/spool for PostgreSQL', () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-spool-'));
    expect(defaultSpoolDir(undefined, `sqlite:${join(dir, 'x', 'bot.db')}`)).toBe(join(dir, 'x', 'spool'));
    expect(defaultSpoolDir(join(dir, 'custom'), 'postgres://h/db')).toBe(join(dir, 'custom'));
    expect(defaultSpoolDir(undefined, 'postgres://h/db')).toBe(join(process.cwd(), 'data', 'spool'));
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});
