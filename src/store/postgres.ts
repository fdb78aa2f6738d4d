import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Backend } from './backend.ts';
import type { Database } from './schema.ts';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Epoch milliseconds live in BIGINT columns and sums come back as NUMERIC; pg
 * returns both as strings by default. Every such value we store fits a double
 * exactly (timestamps, token counts), so parse them to number for this pool only.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? (value: string) => Number(value)
      : (pg.types.getTypeParser(oid, format) as (value: string) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function createPostgresBackend(url: string, logger: Logger, schema?: string): Backend {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`PostgreSQL schema name "${schema}" must be lower case letters, digits and _`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    types,
    // Names the bot's sessions in pg_stat_activity (per schema when a fleet shares a database); ?application_name= in the URL wins.
    application_name: schema === undefined ? 'switchboard' : `switchboard/${schema}`,
    // Every pooled connection resolves our unqualified table names in the schema.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled,
  // that would crash the process. The next query gets a fresh connection.
  pool.on('error', (error) => logger.error({ err: error }, 'postgres idle connection error'));
  // pg-pool listens for errors only while a client is idle. A checked-out client
  // whose connection dies (pg_terminate_backend, a restart) emits 'error' too,
  // and with no listener that crashes the process; its query fails on its own.
  pool.on('connect', (client) => {
    client.on('error', (error) => logger.warn({ err: error }, 'postgres connection lost while in use'));
  });

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const migrationLockKey = `switchboard:migrate:${schema ?? 'default'}`;

  return {
    kind: 'postgres',
    run: (fn) => fn(db),
    transaction: (lockKey, fn) =>
      db.transaction().execute(async (trx) => {
        // First statement of the transaction, so every later statement (each
        // with its own READ COMMITTED snapshot) sees what earlier holders committed.
        await sql`select pg_advisory_xact_lock(hashtext(${lockKey}))`.execute(trx);
        return fn(trx);
      }),
    migrate: (fn) =>
      db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(hashtext(${migrationLockKey}))`.execute(conn);
        try {
          if (schema !== undefined) await sql`create schema if not exists ${sql.id(schema)}`.execute(conn);
          return await conn.transaction().execute(fn);
        } finally {
          await sql`select pg_advisory_unlock(hashtext(${migrationLockKey}))`.execute(conn);
        }
      }),
    close: () => db.destroy(),
  };
}
