import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import type { Database } from '../../src/store/schema.ts';
import type { LedgerEntry } from '../../src/store/types.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { postgresDatabase, sqliteFileDatabase, type MakeTestDatabase, type TestDatabase } from './harness.ts';

/** A database left by a release that had migrations 1 and 2 only, with an answer in flight. */
async function atVersion2(db: Kysely<Database>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.schema
      .createTable('schema_migrations')
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'bigint', (c) => c.notNull())
      .execute();
    for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) {
      await migration.up(trx);
      await trx.insertInto('schema_migrations').values({ version: migration.version, name: migration.name, applied_at: 0 }).execute();
    }
    await sql`insert into active_answers (request_id, platform, workspace_id, channel_id, user_id, model, owner, started_at, message_ref)
      values ('old', 'discord', 'g', 'c', 'u', 'm', 'dead', 1000, '{"m":1}')`.execute(trx);
    await sql`insert into instances (id, heartbeat_at) values ('dead', 1000)`.execute(trx);
    await sql`insert into usage_ledger (request_id, at, platform, workspace_id, channel_id, user_id, model_requested, model_answered, tokens_in, tokens_out, cost_usd, generation_id, outcome, error_kind)
      values ('settled-before', 1000, 'discord', 'g', 'c', 'u', 'm', 'm', 10, 5, 0.01, 'gen-old', 'ok', null)`.execute(trx);
  });
}

function describeUpgrade(name: string, makeDatabase: MakeTestDatabase | undefined, raw: (database: TestDatabase) => Promise<Kysely<Database>>) {
  describe(`migrations on ${name}`, () => {
    let database: TestDatabase | undefined;
    let db: Kysely<Database> | undefined;
    afterEach(async () => {
      await db?.destroy();
      await database?.dispose();
      db = database = undefined;
    });

    it.skipIf(makeDatabase === undefined)('upgrades a version 2 database: answers in flight keep their ref and get a null body', async () => {
      database = await makeDatabase!();
      db = await raw(database);
      await atVersion2(db);

      const store = await database.open();
      await store.migrate();
      const versions = await db.selectFrom('schema_migrations').select('version').orderBy('version').execute();
      expect(versions.map((v) => Number(v.version))).toEqual(MIGRATIONS.map((m) => m.version));
      const taken = await store.takeOrphanedAnswers(30_000, 'sweeper');
      expect(taken.map((a) => [a.requestId, a.messageRef, a.messageBody])).toEqual([['old', '{"m":1}', null]]);

      // Half-applied (the statements ran, the version row did not): running it again converges.
      await db.transaction().execute((trx) => MIGRATIONS.find((m) => m.version === 3)!.up(trx));
      await store.recordAnswerMessages([
        { platform: 'discord', channelId: 'c', messageId: 'm', requestId: null, kind: 'question', text: 'q', askerId: null, askerName: null, prompt: null, at: new Date(5) },
      ]);
      expect(await store.answerRecords('discord', 'c', ['m'])).toHaveLength(1);

      // Migration 6: rows settled before it count no cached tokens; running it again converges.
      expect((await store.ledger({})).map((r) => [r.requestId, r.tokensCached])).toEqual([['settled-before', 0]]);
      await db.transaction().execute((trx) => MIGRATIONS.find((m) => m.version === 6)!.up(trx));
      expect((await store.ledger({}))[0]?.tokensCached).toBe(0);
    });

    /**
     * A ledger column added by a migration: a row written before it reads 0, a
     * row settled after it keeps its count, and running the migration again converges.
     */
    async function ledgerColumnMigration(version: number, name: string, entry: Partial<LedgerEntry>, read: (row: LedgerEntry) => number): Promise<void> {
      database = await makeDatabase!();
      db = await raw(database);
      await atVersion2(db);
      await sql`insert into usage_ledger (request_id, at, platform, workspace_id, channel_id, user_id, model_requested, model_answered,
        tokens_in, tokens_out, cost_usd, generation_id, outcome, error_kind)
        values ('before', 1000, 'discord', 'g', 'c', 'u', 'm', 'm', 1, 2, 0.5, null, 'ok', null)`.execute(db);

      const store = await database.open();
      await store.migrate();
      const migration = MIGRATIONS.find((m) => m.version === version)!;
      expect(migration.name).toBe(name);
      await db.transaction().execute((trx) => migration.up(trx));
      await store.settle(null, {
        requestId: 'after', at: new Date(2000), platform: 'discord', workspaceId: 'g', channelId: 'c', userId: 'u', modelRequested: 'm',
        modelAnswered: 'm', tokensIn: 1, tokensOut: 2, costUsd: 0.1, generationId: null, outcome: 'ok', errorKind: null, ...entry,
      });
      const rows = await store.ledger({});
      const mine = rows.filter((r) => r.requestId === 'after' || r.requestId === 'before');
      expect(mine.map((r) => [r.requestId, read(r)]).sort()).toEqual([['after', 3], ['before', 0]]);
      // A row settled before the migration (by the version-2 setup) reads 0 too.
      expect(rows.filter((r) => r.requestId !== 'after').every((r) => read(r) === 0)).toBe(true);
    }

    it.skipIf(makeDatabase === undefined)('migration 7 (web-search-requests): old ledger rows count 0 searches, new ones keep theirs, a rerun converges', async () => {
      await ledgerColumnMigration(7, 'web-search-requests', { webSearchRequests: 3 }, (r) => r.webSearchRequests ?? 0);
    });

    it.skipIf(makeDatabase === undefined)('migration 8 (attachments): old ledger rows carry no attachments, new ones keep their count, a rerun converges', async () => {
      await ledgerColumnMigration(8, 'attachments', { attachments: 3 }, (r) => r.attachments ?? 0);
    });

    it.skipIf(makeDatabase === undefined)('migration 9 (images-out): old ledger rows carry no pictures, new ones keep their count, a rerun converges', async () => {
      await ledgerColumnMigration(9, 'images-out', { imagesOut: 3 }, (r) => r.imagesOut ?? 0);
    });

    it.skipIf(makeDatabase === undefined)("migration 13 (answer-prompt-files): a rerun converges, and records keep an /ask option's files", async () => {
      database = await makeDatabase!();
      db = await raw(database);
      const store = await database.open();
      await store.migrate();
      const migration = MIGRATIONS.find((m) => m.version === 13)!;
      expect(migration.name).toBe('answer-prompt-files');
      await db.transaction().execute((trx) => migration.up(trx));
      const record = {
        platform: 'discord', channelId: 'c', messageId: 'm', requestId: 'r', kind: 'answer' as const, text: 'answer', askerId: 'u', askerName: 'U',
        prompt: 'is this ok?', at: new Date(3000), promptFiles: [{ id: 'discord:1', name: 'ui.png', mime: 'image/png', size: 10, url: 'https://cdn.example/ui.png' }],
      };
      await store.recordAnswerMessages([record]);
      expect(await store.answerRecords('discord', 'c', ['m'])).toEqual([record]);
    });

    it.skipIf(makeDatabase === undefined)('migration 14 (quota-limit-versions): limits set before it read version 0, every change after raises it, a rerun converges', async () => {
      database = await makeDatabase!();
      db = await raw(database);
      await atVersion2(db);
      await sql`insert into quota_limits (platform, workspace_id, subject_kind, user_id, limit_name, value)
        values ('discord', 'g', 'default', '', 'requests-per-day', 5)`.execute(db);
      const store = await database.open();
      await store.migrate();
      const migration = MIGRATIONS.find((m) => m.version === 14)!;
      expect(migration.name).toBe('quota-limit-versions');
      expect(await store.getQuotaLimitSet('discord', 'g', 'u')).toEqual({ user: {}, default: { 'requests-per-day': 5 }, server: {}, version: 0 });
      // Run again: its triggers are replaced, not doubled (a new limit raises the version by exactly 1).
      await db.transaction().execute((trx) => migration.up(trx));
      await store.setQuotaLimit('discord', 'g', { kind: 'user', userId: 'u' }, 'tokens-per-day', 10);
      const version = (await store.getQuotaLimitSet('discord', 'g', 'u')).version!;
      expect(version).toBe(1);
      // A reserve with the version read before the change is stale; with the current one it goes through.
      const reserve = (limitsVersion: number) =>
        store.reserve({ id: `r-${limitsVersion}`, user: { platform: 'discord', workspaceId: 'g', userId: 'u' }, channelId: 'c', limits: {}, estimate: { tokens: 1, usd: 0 },
          now: new Date(), ttlMs: 60_000, limitsVersion });
      expect(await reserve(0)).toEqual({ ok: false, stale: true });
      expect(await reserve(1)).toEqual({ ok: true });
    });
  });
}

describeUpgrade('SQLite', sqliteFileDatabase, async (database) => {
  const path = database.url.slice('sqlite:'.length);
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: new SqliteDatabase(path) }) });
});

const url = postgresTestUrl('the migration upgrade test');
describeUpgrade('PostgreSQL', url === undefined ? undefined : postgresDatabase(url), async (database) => {
  const schema = database.schema!;
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  try {
    await admin.query(`create schema if not exists "${schema}"`);
  } finally {
    await admin.end();
  }
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 2, options: `-c search_path=${schema}` }) }),
  });
});
