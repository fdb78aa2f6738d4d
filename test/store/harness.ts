import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { createStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

export const silentLogger = pino({ level: 'silent' });

/** One empty database for one test. */
export interface TestDatabase {
  /** A new store instance (its own connection or pool) on this database, not yet migrated. */
  open(): Promise<Store>;
  /** Whether open() can be called more than once (two instances on one database); false for :memory:. */
  readonly shareable: boolean;
  /** The DATABASE_URL and schema a child process needs to open the same database. */
  readonly url: string;
  readonly schema: string | undefined;
  /** Closes every store opened here and deletes the database. */
  dispose(): Promise<void>;
}

export type MakeTestDatabase = () => Promise<TestDatabase>;

function tracking(open: () => Promise<Store>) {
  const stores: Store[] = [];
  return {
    open: async () => {
      const store = await open();
      stores.push(store);
      return store;
    },
    closeAll: async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    },
  };
}

export const sqliteFileDatabase: MakeTestDatabase = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-store-'));
  const url = `sqlite:${join(dir, 'test.db')}`;
  const stores = tracking(() => createStore(url, { logger: silentLogger }));
  return {
    open: stores.open,
    shareable: true,
    url,
    schema: undefined,
    dispose: async () => {
      await stores.closeAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

export const sqliteMemoryDatabase: MakeTestDatabase = async () => {
  const stores = tracking(() => createStore('sqlite::memory:', { logger: silentLogger }));
  return { open: stores.open, shareable: false, url: 'sqlite::memory:', schema: undefined, dispose: stores.closeAll };
};

/** A fresh schema per test database, so test files running in parallel never meet. */
export function postgresDatabase(url: string): MakeTestDatabase {
  return async () => {
    const schema = `sb_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const stores = tracking(() => createStore(url, { logger: silentLogger, schema }));
    return {
      open: stores.open,
      shareable: true,
      url,
      schema,
      dispose: async () => {
        await stores.closeAll();
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`drop schema if exists "${schema}" cascade`);
        } finally {
          await client.end();
        }
      },
    };
  };
}
