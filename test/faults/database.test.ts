/**
 * The database unavailable for a while, on every platform: SQLite's file
 * locked by another connection holding a write transaction for 1.5 s while
 * answers stream (the settle must wait it out, not lose the ledger row or
 * leak the reservation), and PostgreSQL connections killed with
 * pg_terminate_backend while a settle waits on a lock (needs TEST_DATABASE_URL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findCommand, runCommand, type Invocation } from '../../src/core/commands.ts';
import { systemClock } from '../../src/core/types.ts';
import { createFakeSurface } from '../fakes/fake-surface.ts';
import { startHarness as startDiscord } from '../platforms/discord/harness.ts';
import { ALICE, CHANNEL, startHarness as startSlack } from '../platforms/slack/harness.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { IN_PROGRESS } from './cases.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-db-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LOCK_MS = 1500;
const STREAM = { text: ['Written ', 'while ', 'the ', 'database ', 'was ', 'locked.'], chunkDelayMs: 30 };

/** Another connection takes the write lock and holds it for `ms`. */
function lockSqlite(path: string, ms: number): Promise<void> {
  const other = new Database(path);
  other.exec('BEGIN IMMEDIATE');
  return new Promise((resolve) =>
    setTimeout(() => {
      other.exec('COMMIT');
      other.close();
      resolve();
    }, ms),
  );
}

async function expectSettled(app: TestApp, platform: string, workspaceId: string, userId: string, before: number, now: number): Promise<void> {
  const rows = await app.core.store.ledger({});
  expect(rows).toHaveLength(before + 1);
  expect(rows.at(-1)).toMatchObject({ platform, userId, outcome: 'ok' });
  expect((await app.core.store.usage(platform, workspaceId, userId, new Date(now))).reserved.requests).toBe(0);
  expect(app.core.pipeline.running()).toBe(0);
}

async function coreAsk(app: TestApp, prompt: string) {
  const surface = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 50, windowMs: 1000 }, budgetKey: 'test:c1', clock: systemClock });
  const invocation: Invocation = {
    platform: 'test',
    workspaceId: 'w1',
    channelId: 'c1',
    conversationKey: 'test:c1:alice',
    user: { id: 'alice', name: 'Alice' },
    isPlatformAdmin: async () => false,
    reply: async () => undefined,
    answerSurface: async () => surface.surface,
  };
  await runCommand(app.core, findCommand(app.core.commands, 'ask')!.command, undefined, { prompt }, invocation);
  return surface;
}

describe('the SQLite file locked by another connection for 1.5 s', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('core: the answer completes, the settle waits for the lock, the next request works', async () => {
    const path = join(dir, 'core.db');
    const app = await startTestApp({ env: { DATABASE_URL: `sqlite:${path}` } });
    close = () => app.close();
    app.openrouter.enqueue(STREAM);
    // Resolves when the lock, taken 40 ms in (while the answer streams), is released again.
    const locked = new Promise<void>((resolve) => setTimeout(() => resolve(lockSqlite(path, LOCK_MS)), 40));
    const started = Date.now();
    const surface = await coreAsk(app, 'lock the database');
    await locked;
    expect(Date.now() - started).toBeGreaterThanOrEqual(LOCK_MS - 100);
    expect(surface.texts().join('\n')).toMatch(/^Written while the database was locked\.\n\n.*gpt-4o-mini/);
    expect(surface.texts().join('\n')).not.toMatch(IN_PROGRESS);
    await expectSettled(app, 'test', 'w1', 'alice', 0, Date.now());
    app.openrouter.reset();
    expect((await coreAsk(app, 'after')).texts().join('\n')).toMatch(/^You said: after/);
  });

  it('Discord: the answer completes and is settled once the lock is gone', async () => {
    const path = join(dir, 'discord.db');
    const h = await startDiscord({ env: { DATABASE_URL: `sqlite:${path}` } });
    close = () => h.close();
    h.app.openrouter.enqueue(STREAM);
    const before = (await h.app.core.store.ledger({})).length;
    let lock: Promise<void> | undefined;
    const off = h.fake.onRequest((request) => {
      const body = request.body as { content?: string } | undefined;
      if (request.method === 'PATCH' && body?.content?.startsWith('Written')) {
        off();
        lock = lockSqlite(path, LOCK_MS);
      }
    });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'ask', options: { prompt: 'lock' } });
    await h.adapter.idle();
    expect(lock).toBeDefined();
    await lock;
    const content = h.fake.interactionMessages(interaction).at(-1)!.content;
    expect(content).toMatch(/^Written while the database was locked\.\n\n.*gpt-4o-mini/);
    await expectSettled(h.app, 'discord', h.fake.guildId, h.fake.users.alice.id, before, h.clock.now());
    expect(h.fake.violations).toEqual([]);
  });

  it('Slack: a mention arriving while the file is locked is claimed, answered and settled', async () => {
    const path = join(dir, 'slack.db');
    const h = await startSlack({ env: { DATABASE_URL: `sqlite:${path}` } });
    close = () => h.close();
    h.app.openrouter.enqueue(STREAM);
    // Locked before the event arrives: the event claim and the quota reservation wait too.
    const lock = lockSqlite(path, LOCK_MS);
    const delivery = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: `<@${h.fake.botUserId}> lock` });
    expect(delivery.status).toBe(200);
    await h.adapter.idle();
    await lock;
    const answer = h.fake.botMessages(CHANNEL, delivery.ts).map((m) => h.fake.visibleText(m)).join('\n');
    expect(answer).toMatch(/^Written while the database was locked\.\n.*gpt-4o-mini/);
    await expectSettled(h.app, 'slack', h.fake.teamId, ALICE, 0, h.clock.now());
    expect(h.fake.violations).toEqual([]);
  });
});

const pgUrl = postgresTestUrl('the terminated-connections fault test');

describe.skipIf(!pgUrl)('PostgreSQL connections terminated (pg_terminate_backend) while a settle waits', () => {
  it('core: the settle is retried on a new connection; one ledger row, no reservation left', async () => {
    const schema = `fault_db_${process.pid}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    const url = new URL(pgUrl!);
    url.searchParams.set('schema', schema);
    const app = await startTestApp({ env: { DATABASE_URL: url.toString() } });
    try {
      app.openrouter.enqueue(STREAM);
      const blocker = new pg.Client({ connectionString: pgUrl, options: `-c search_path=${schema}` });
      await blocker.connect();
      // Hold the ledger's lock from the first chunk, then kill every connection of the bot's pool.
      const surfacePromise = coreAsk(app, 'terminate');
      await new Promise((resolve) => setTimeout(resolve, 40));
      await blocker.query('begin');
      await blocker.query('lock table usage_ledger in access exclusive mode');
      await new Promise((resolve) => setTimeout(resolve, 400));
      const { rows } = await admin.query<{ n: number }>(
        // The bot's own sessions only (other test files share this database): every one, busy or idle.
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
         where datname = current_database() and application_name = $1`,
        [`switchboard/${schema}`],
      );
      expect(rows[0]!.n).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await blocker.query('commit');
      await blocker.end();
      const surface = await surfacePromise;
      expect(surface.texts().join('\n')).toMatch(/^Written while the database was locked\.\n\n.*gpt-4o-mini/);
      await expectSettled(app, 'test', 'w1', 'alice', 0, Date.now());
      app.openrouter.reset();
      expect((await coreAsk(app, 'after')).texts().join('\n')).toMatch(/^You said: after/);
    } finally {
      await app.close();
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
  });
});
