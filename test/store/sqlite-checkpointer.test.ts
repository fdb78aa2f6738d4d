import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCheckpointer, type Checkpointer } from '../../src/store/sqlite-checkpointer.ts';
import { createStore } from '../../src/store/index.ts';
import { createKyselyStore } from '../../src/store/kysely-store.ts';
import { createSqliteBackend, type SqliteBackendOptions } from '../../src/store/sqlite.ts';
import { pino } from 'pino';
import { silentLogger } from './harness.ts';

/** A long interval: every checkpoint in these tests is one the test asks for. */
const NEVER_MS = 3_600_000;

describe('SQLite checkpoints in a worker thread', () => {
  let dir: string;
  let path: string;
  let db: SqliteDatabase.Database;
  let checkpointer: Checkpointer | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-ckpt-'));
    path = join(dir, 'bot.db');
    db = new SqliteDatabase(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('create table t (id integer primary key, body text not null)');
  });

  afterEach(async () => {
    await checkpointer?.stop();
    checkpointer = undefined;
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const insert = (rows: number) => {
    const statement = db.prepare('insert into t (body) values (?)');
    for (let i = 0; i < rows; i++) statement.run('x'.repeat(500));
  };
  const walBytes = async () => (await stat(`${path}-wal`)).size;

  it('copies every committed frame into the database while the writer keeps its connection', async () => {
    insert(400);
    checkpointer = await startCheckpointer({ path, intervalMs: NEVER_MS, onFailure: () => undefined });
    const result = await checkpointer.checkpoint();
    expect(result.busy).toBe(0);
    expect(result.log).toBeGreaterThan(50);
    expect(result.checkpointed).toBe(result.log);
    // The rows are in the main database file: a reader that ignores the WAL sees them.
    const reader = new SqliteDatabase(path, { readonly: true });
    expect((reader.prepare('select count(*) as n from t').get() as { n: number }).n).toBe(400);
    reader.close();
  });

  it('keeps the WAL from growing: after a checkpoint the writer starts the log over', async () => {
    checkpointer = await startCheckpointer({ path, intervalMs: NEVER_MS, onFailure: () => undefined });
    insert(300);
    await checkpointer.checkpoint();
    const afterFirst = await walBytes();
    for (let round = 0; round < 5; round++) {
      insert(300);
      const result = await checkpointer.checkpoint();
      expect(result.checkpointed).toBe(result.log);
    }
    expect(await walBytes()).toBeLessThanOrEqual(afterFirst);

    // Without checkpoints the same writes pile up in the log.
    await checkpointer.stop();
    checkpointer = undefined;
    insert(1500);
    expect(await walBytes()).toBeGreaterThan(afterFirst * 3);
  });

  it('runs on its own timer', async () => {
    insert(200);
    checkpointer = await startCheckpointer({ path, intervalMs: 20, onFailure: () => undefined });
    // What the database file alone holds (a copy of it without the WAL) is what has been checkpointed.
    const rowsInFile = async () => {
      const copy = join(dir, `copy-${Math.random()}.db`);
      await copyFile(path, copy);
      const reader = new SqliteDatabase(copy);
      try {
        // Before the first checkpoint even the table is only in the WAL.
        const table = reader.prepare(`select 1 from sqlite_master where name = 't'`).get();
        return table === undefined ? 0 : (reader.prepare('select count(*) as n from t').get() as { n: number }).n;
      } finally {
        reader.close();
      }
    };
    expect(await rowsInFile()).toBe(0);
    // The worker's timer, not ours, does the work.
    for (let i = 0; i < 300 && (await rowsInFile()) < 200; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await rowsInFile()).toBe(200);
  });

  it('refuses to start on a file that does not exist', async () => {
    await expect(
      startCheckpointer({ path: join(dir, 'missing.db'), intervalMs: NEVER_MS, onFailure: () => undefined }),
    ).rejects.toThrow(/unable to open|no such file|does not exist/i);
  });
});

describe('the SQLite store with its checkpoint worker', () => {
  it('keeps every row across many transactions and closes cleanly (worker stopped, WAL folded in)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-ckpt-store-'));
    try {
      const url = `sqlite:${join(dir, 'store.db')}`;
      const store = await createStore(url, { logger: silentLogger });
      await store.migrate();
      for (let i = 0; i < 300; i++) await store.setMeta(`k${i}`, `v${i}`);
      await store.close();
      await expect(stat(join(dir, 'store.db-wal'))).rejects.toThrow(/ENOENT/);
      const again = await createStore(url, { logger: silentLogger });
      expect(await again.getMeta('k299')).toBe('v299');
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the SQLite store when its checkpoint worker fails', () => {
  /** Writes ~6 MB through the store and reports the WAL's size. */
  async function walAfterWrites(start: NonNullable<SqliteBackendOptions['startCheckpointer']>, afterTenWrites: () => void = () => undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-ckpt-fail-'));
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const path = join(dir, 'store.db');
    const store = createKyselyStore(await createSqliteBackend(path, logger, { startCheckpointer: start }), logger);
    try {
      await store.migrate();
      for (let i = 0; i < 300; i++) {
        if (i === 10) afterTenWrites();
        await store.setMeta(`k${i}`, 'x'.repeat(20_000));
      }
      expect(await store.getMeta('k299')).toHaveLength(20_000);
      return { walBytes: (await stat(`${path}-wal`)).size, lines };
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  /** SQLite's automatic checkpoint restarts the log at about 1000 pages (4 MB). */
  const AUTOMATIC_LIMIT = 5 * 2 ** 20;

  it('falls back to checkpointing inside commits when the worker cannot start, and says so', async () => {
    const { walBytes, lines } = await walAfterWrites(() => Promise.reject(new Error('no threads here')));
    expect(walBytes).toBeLessThan(AUTOMATIC_LIMIT);
    expect(lines.join('')).toMatch(/checkpoint worker could not start; checkpointing inside commits/);
  });

  it('falls back the same way when the worker dies later', async () => {
    let fail: (() => void) | undefined;
    const { walBytes, lines } = await walAfterWrites(
      async (options) => {
        fail = () => options.onFailure(new Error('worker exited with code 1'));
        return { checkpoint: () => Promise.reject(new Error('gone')), stop: async () => undefined };
      },
      () => fail!(),
    );
    expect(walBytes).toBeLessThan(AUTOMATIC_LIMIT);
    expect(lines.join('')).toMatch(/checkpoint worker stopped; checkpointing inside commits again/);
  });

  it('without any checkpoint the same writes would pile up in the log (what the two above rule out)', async () => {
    const { walBytes } = await walAfterWrites(async () => ({ checkpoint: () => Promise.reject(new Error('none')), stop: async () => undefined }));
    expect(walBytes).toBeGreaterThan(AUTOMATIC_LIMIT);
  });
});
