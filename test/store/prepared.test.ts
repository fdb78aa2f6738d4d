import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { prepare } from '../../src/store/prepared.ts';
import type { Database } from '../../src/store/schema.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';

const getMeta = prepare(2, (db, key: string, other: string) =>
  db.selectFrom('meta').select(['key', 'value']).where((eb) => eb.or([eb('key', '=', key), eb('key', '=', other)])).orderBy('key'),
);
const putMeta = prepare(2, (db, key: string, value: string) =>
  db
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb.ref('excluded.value') }))),
);

async function exercise(db: Kysely<Database>): Promise<void> {
  await db.schema.createTable('meta').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
  for (const [key, value] of [['a', '1'], ['b', '2'], ['c', '3'], ['a', 'one']] as const) {
    const result = await putMeta.run(db, key, value);
    expect(Number(result.numAffectedRows)).toBe(1);
  }
  // The same compiled text, new values each run; the answer matches what kysely builds fresh.
  expect((await getMeta.run(db, 'a', 'c')).rows).toEqual([
    { key: 'a', value: 'one' },
    { key: 'c', value: '3' },
  ]);
  expect((await getMeta.run(db, 'b', 'zzz')).rows).toEqual(
    await db.selectFrom('meta').select(['key', 'value']).where('key', 'in', ['b', 'zzz']).execute(),
  );
  // Values are parameters, never spliced into the SQL.
  expect((await getMeta.run(db, "a' or '1'='1", 'nope')).rows).toEqual([]);
}

describe('prepared queries', () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });

  it('run with new values on SQLite and on PostgreSQL in one process, each with its own dialect', async () => {
    const sqlite = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SqliteDatabase(':memory:') }) });
    closers.push(() => sqlite.destroy());
    await exercise(sqlite);

    const url = postgresTestUrl('the prepared-query test');
    if (!url) return;
    const schema = `sb_prepared_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create schema "${schema}"`);
    const postgres = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schema}` }) }),
    });
    closers.push(async () => {
      await postgres.destroy();
      await admin.query(`drop schema "${schema}" cascade`);
      await admin.end();
    });
    await exercise(postgres);
  });

  it('refuses a query that inlines a value or leaves one out', () => {
    const sqlite = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SqliteDatabase(':memory:') }) });
    closers.push(() => sqlite.destroy());
    const inlined = prepare(1, (db, key: string) => db.selectFrom('meta').selectAll().where('key', '=', sql.lit(key)));
    expect(() => inlined.run(sqlite, 'a')).toThrow(/inlined/);
    const unused = prepare(2, (db, key: string, other: string) => {
      void other; // forgotten: never reaches the query
      return db.selectFrom('meta').selectAll().where('key', '=', key);
    });
    expect(() => unused.run(sqlite, 'a', 'b')).toThrow(/uses 1 of its 2 values/);
  });
});
