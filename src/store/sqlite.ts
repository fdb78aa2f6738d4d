import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type SqliteDatabase as SqliteDialectDatabase } from 'kysely';
import type { Logger } from 'pino';
import type { Backend } from './backend.ts';
import type { Database } from './schema.ts';
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer.ts';

/** How long a writer waits for another connection's write lock before giving up. */
const BUSY_DEADLINE_MS = 10_000;
const BUSY_MAX_DELAY_MS = 20;
/** How often the worker thread checkpoints the WAL (see sqlite-checkpointer.ts). */
const CHECKPOINT_INTERVAL_MS = 500;

/**
 * better-sqlite3 is synchronous, so SQLite's own busy_timeout would block the
 * whole event loop while it waits. If the lock holder is another connection in
 * this same process (mid-transaction, awaiting between statements), it can never
 * finish and the wait always times out. So busy_timeout stays 0 once the file is
 * open and we wait here, asynchronously, with a short jittered backoff. Only
 * whole operations are retried: a busy error leaves no transaction open (or we
 * rolled it back), so running the operation again is safe.
 */
async function retryWhenBusy<T>(fn: () => Promise<T>, logger: Logger): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isBusy(error) || Date.now() - started > BUSY_DEADLINE_MS) throw error;
      if (attempt === 50) logger.warn({ waitedMs: Date.now() - started }, 'sqlite database busy; still waiting');
      const ceiling = Math.min(2 ** attempt, BUSY_MAX_DELAY_MS);
      await new Promise((resolve) => setTimeout(resolve, ceiling / 2 + (Math.random() * ceiling) / 2));
    }
  }
}

function isBusy(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  return typeof error.code === 'string' && error.code.startsWith('SQLITE_BUSY');
}

export interface SqliteBackendOptions {
  /** How the checkpoint worker is started (tests put a failing one here). */
  startCheckpointer?: typeof startCheckpointer;
}

export async function createSqliteBackend(path: string, logger: Logger, options: SqliteBackendOptions = {}): Promise<Backend> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const connection = new SqliteDatabase(path);
  // Opening and switching to WAL happen synchronously before any transaction of
  // ours exists, so a blocking wait is harmless here (another process may be
  // switching the same file to WAL at this moment).
  connection.pragma('busy_timeout = 5000');
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('busy_timeout = 0');

  // A file database checkpoints from a worker thread, never inside our commits.
  let checkpointer: Checkpointer | undefined;
  if (path !== ':memory:') {
    try {
      checkpointer = await (options.startCheckpointer ?? startCheckpointer)({
        path,
        intervalMs: CHECKPOINT_INTERVAL_MS,
        onFailure: (error) => {
          logger.warn({ err: error }, 'sqlite checkpoint worker stopped; checkpointing inside commits again');
          checkpointer = undefined;
          if (connection.open) connection.pragma('wal_autocheckpoint = 1000');
        },
      });
      connection.pragma('wal_autocheckpoint = 0');
    } catch (error) {
      logger.warn({ err: error }, 'sqlite checkpoint worker could not start; checkpointing inside commits');
    }
  }

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(connection) }) });

  // kysely's transaction() issues a plain (deferred) BEGIN; a deferred
  // transaction that reads and then writes can fail to upgrade its lock.
  // BEGIN IMMEDIATE takes the write lock up front, which serialises writers
  // across every connection and process using the file.
  const transaction = <T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> =>
    retryWhenBusy(
      () =>
        db.connection().execute(async (conn) => {
          await sql`begin immediate`.execute(conn);
          try {
            const result = await fn(conn);
            await sql`commit`.execute(conn);
            return result;
          } catch (error) {
            await sql`rollback`.execute(conn).catch(() => undefined);
            throw error;
          }
        }),
      logger,
    );

  return {
    kind: 'sqlite',
    run: (fn) => retryWhenBusy(() => fn(db), logger),
    transaction: (_lockKey, fn) => transaction(fn),
    migrate: (fn) => transaction(fn),
    async close() {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** Statements kept compiled, most recently used last; the store's queries are a few dozen shapes. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * kysely's SQLite driver prepares every query anew. Compiling the SQL is most
 * of a small query's cost, and each thrown-away statement is a native handle
 * the garbage collector has to finalise (it made the young-generation pauses
 * several times longer). Statements are reusable once run, and better-sqlite3
 * runs them synchronously, so one cached statement per SQL text is safe; the
 * store never streams rows, which would hold a statement open.
 */
function withStatementCache(connection: SqliteDatabase.Database): SqliteDialectDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => connection.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement === undefined) {
        statement = connection.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      } else {
        cache.delete(text);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}
