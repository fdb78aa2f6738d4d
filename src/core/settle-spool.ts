/**
 * "A finished answer is always charged." QuotaService.settle retries a failed
 * settle for about 10 s; past that the database is what failed, so a table
 * cannot hold the settle: it goes to a local directory instead and is retried
 * from there in the background (and at the next start) until it lands.
 *
 * One small file per settle, written to a temporary name, fsynced and renamed
 * into place, deleted once the store has it. That needs no compaction and no
 * lock: two processes sharing the directory may both replay a file, and
 * Store.settle is idempotent on the request id (a real settle after a sweeper's
 * 'process-died' row replaces it once), so the ledger still gets one row.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../log.ts';
import { parseDatabaseUrl } from '../store/index.ts';
import type { LedgerEntry, Store } from '../store/types.ts';

/** How often the background retry runs while settles wait. */
export const SPOOL_RETRY_MS = 5_000;

const SUFFIX = '.settle.json';

export interface SettleSpool {
  /** Keeps a settle on disk for later; resolves once it is durable. */
  add(reservationId: string | null, entry: LedgerEntry): Promise<void>;
  /** Tries every kept settle once, oldest first; returns how many landed (stops at the first failure). */
  flush(): Promise<number>;
  /** Request ids of the settles waiting. */
  pending(): Promise<string[]>;
  /** Flushes now and then every `intervalMs` until close(). */
  start(): void;
  close(): Promise<void>;
}

export interface SettleSpoolOptions {
  dir: string;
  store: Pick<Store, 'settle'>;
  logger: Logger;
  intervalMs?: number;
}

interface Spooled {
  reservationId: string | null;
  entry: Omit<LedgerEntry, 'at'> & { at: string };
}

/**
 * SPOOL_DIR when set; otherwise a `spool` directory next to the SQLite file,
 * or ./data/spool for PostgreSQL. An in-memory SQLite database (tests, the
 * terminal chat) gets a directory of its own process, since its data does not
 * outlive the process anyway.
 */
export function defaultSpoolDir(spoolDir: string | undefined, databaseUrl: string | undefined): string {
  if (spoolDir !== undefined) return resolve(spoolDir);
  const location = parseDatabaseUrl(databaseUrl);
  if (location.kind === 'sqlite') {
    if (location.path === ':memory:') return join(tmpdir(), `switchboard-spool-${process.pid}-${randomBytes(4).toString('hex')}`);
    return join(dirname(resolve(location.path)), 'spool');
  }
  return resolve('data', 'spool');
}

export function createSettleSpool(options: SettleSpoolOptions): SettleSpool {
  const { dir, store, logger } = options;
  const intervalMs = options.intervalMs ?? SPOOL_RETRY_MS;
  let flushing: Promise<number> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const files = async (): Promise<string[]> => {
    try {
      return (await readdir(dir)).filter((name) => name.endsWith(SUFFIX)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };

  const flushOnce = async (): Promise<number> => {
    let landed = 0;
    for (const name of await files()) {
      const path = join(dir, name);
      let spooled: Spooled;
      try {
        spooled = JSON.parse(await readFile(path, 'utf8')) as Spooled;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // another process replayed it
        logger.error({ err: error, file: path }, 'unreadable settle in the spool; set aside as .bad');
        await rename(path, `${path}.bad`).catch(() => undefined);
        continue;
      }
      const entry: LedgerEntry = { ...spooled.entry, at: new Date(spooled.entry.at) };
      try {
        await store.settle(spooled.reservationId, entry);
      } catch (error) {
        logger.warn({ err: error, waiting: (await files()).length }, 'the database still refuses spooled usage; retrying later');
        break;
      }
      await unlink(path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
      landed++;
      logger.info({ requestId: entry.requestId }, 'spooled usage recorded');
    }
    return landed;
  };

  const flush = (): Promise<number> => {
    flushing ??= flushOnce().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      flush()
        .catch((error: unknown) => logger.error({ err: error }, 'replaying the settle spool failed'))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };

  return {
    async add(reservationId, entry) {
      await mkdir(dir, { recursive: true });
      // Time first, so a replay goes oldest first; the request id keeps a repeat of one settle to one file.
      const name = `${entry.at.getTime().toString().padStart(15, '0')}-${encodeURIComponent(entry.requestId)}${SUFFIX}`;
      const temporary = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
      const spooled: Spooled = { reservationId, entry: { ...entry, at: entry.at.toISOString() } };
      const file = await open(temporary, 'w');
      try {
        await file.writeFile(`${JSON.stringify(spooled)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, join(dir, name));
      logger.warn({ requestId: entry.requestId, dir }, 'usage could not be recorded; kept in the spool until the database takes it');
    },
    flush,
    async pending() {
      return (await files()).map((name) => decodeURIComponent(name.slice(16, -SUFFIX.length)));
    },
    start() {
      void flush()
        .catch((error: unknown) => logger.error({ err: error }, 'replaying the settle spool failed'))
        .finally(schedule);
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await flushing?.catch(() => undefined);
    },
  };
}
