import type { Logger } from 'pino';
import { createKyselyStore } from './kysely-store.ts';
import { parseDatabaseUrl } from './parse-database-url.ts';
import { createPostgresBackend } from './postgres.ts';
import { createSqliteBackend } from './sqlite.ts';
import type { Store } from './types.ts';

export { parseDatabaseUrl, DEFAULT_SQLITE_PATH, type DatabaseLocation } from './parse-database-url.ts';
export type * from './types.ts';
export { QUOTA_LIMITS } from './types.ts';

export interface CreateStoreOptions {
  logger: Logger;
  /** PostgreSQL only: keep every table in this schema (created by migrate()); tests use one each. DATABASE_URL's `?schema=` does the same. */
  schema?: string;
}

/**
 * Opens the store DATABASE_URL names: unset = SQLite at ./data/switchboard.db,
 * sqlite:PATH or sqlite::memory:, postgres:// or postgresql://. Nothing is
 * created until migrate(), which the caller runs once before using the store.
 */
export async function createStore(databaseUrl: string | undefined, opts: CreateStoreOptions): Promise<Store> {
  const location = parseDatabaseUrl(databaseUrl);
  const logger = opts.logger.child({ component: 'store' });
  if (location.kind === 'sqlite') {
    if (opts.schema !== undefined) throw new Error('the schema option is for PostgreSQL; SQLite has none');
    return createKyselyStore(await createSqliteBackend(location.path, logger), logger);
  }
  if (opts.schema !== undefined && location.schema !== undefined && opts.schema !== location.schema) {
    throw new Error('DATABASE_URL names one PostgreSQL schema and the schema option another');
  }
  return createKyselyStore(createPostgresBackend(location.url, logger, opts.schema ?? location.schema), logger);
}
