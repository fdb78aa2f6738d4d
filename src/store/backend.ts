import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * The few places where SQLite and PostgreSQL differ: how a writer excludes other
 * writers (in this process and in others), how migrations are serialised, and
 * how a busy database is waited for. Everything else is one kysely query layer.
 */
export interface Backend {
  readonly kind: 'sqlite' | 'postgres';
  /** Reads and single-statement writes outside a transaction. */
  run: <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;
  /**
   * A transaction that no other writer holding the same lock key can interleave
   * with, across processes. SQLite locks the whole file (BEGIN IMMEDIATE);
   * PostgreSQL takes a transaction-scoped advisory lock on the key.
   */
  transaction: <T>(lockKey: string, fn: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;
  /** One transaction with the migration lock held, so racing processes apply each migration once. */
  migrate: <T>(fn: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;
  close: () => Promise<void>;
}
