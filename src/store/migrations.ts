import { SqliteAdapter, sql, type ColumnDefinitionBuilder, type Kysely } from 'kysely';
import { POSTGRES_QUOTA_BATCH_FUNCTIONS, QUOTA_LIMIT_VERSION_TRIGGERS } from './postgres-quota.ts';
import { POSTGRES_QUOTA_FUNCTIONS_V10 } from './postgres-quota-v10.ts';
import type { Database } from './schema.ts';

export interface Migration {
  version: number;
  name: string;
  /** Runs inside a transaction (SQLite and PostgreSQL both have transactional DDL). */
  up(db: Kysely<Database>): Promise<void>;
}

/**
 * Append only: never edit a migration that has shipped. Every statement says
 * IF NOT EXISTS so a half-applied database (or a racing process that slipped
 * past the lock) converges instead of failing. The column types below mean the
 * same thing to both engines (SQLite maps bigint to INTEGER, double precision
 * to REAL).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    async up(db) {
      await db.schema
        .createTable('settings')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('scope_kind', 'text', (c) => c.notNull())
        .addColumn('scope_id', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('settings_pk', ['platform', 'scope_kind', 'scope_id', 'key'])
        .execute();

      await db.schema
        .createTable('quota_limits')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('subject_kind', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('limit_name', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .addPrimaryKeyConstraint('quota_limits_pk', [
          'platform',
          'workspace_id',
          'subject_kind',
          'user_id',
          'limit_name',
        ])
        .execute();

      await db.schema
        .createTable('reservations')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('tokens', 'bigint', (c) => c.notNull())
        .addColumn('usd', 'double precision', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('owner', 'text')
        .execute();
      await db.schema
        .createIndex('reservations_user_expiry')
        .ifNotExists()
        .on('reservations')
        .columns(['platform', 'workspace_id', 'user_id', 'expires_at'])
        .execute();
      await db.schema
        .createIndex('reservations_workspace_expiry')
        .ifNotExists()
        .on('reservations')
        .columns(['platform', 'workspace_id', 'expires_at'])
        .execute();
      await db.schema
        .createIndex('reservations_expiry')
        .ifNotExists()
        .on('reservations')
        .column('expires_at')
        .execute();
      await db.schema.createIndex('reservations_owner').ifNotExists().on('reservations').column('owner').execute();

      await db.schema
        .createTable('usage_ledger')
        .ifNotExists()
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('model_requested', 'text', (c) => c.notNull())
        .addColumn('model_answered', 'text')
        .addColumn('tokens_in', 'bigint', (c) => c.notNull())
        .addColumn('tokens_out', 'bigint', (c) => c.notNull())
        .addColumn('cost_usd', 'double precision', (c) => c.notNull())
        .addColumn('generation_id', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error_kind', 'text')
        .execute();
      await db.schema
        .createIndex('usage_ledger_user_at')
        .ifNotExists()
        .on('usage_ledger')
        .columns(['platform', 'workspace_id', 'user_id', 'at'])
        .execute();
      await db.schema
        .createIndex('usage_ledger_workspace_at')
        .ifNotExists()
        .on('usage_ledger')
        .columns(['platform', 'workspace_id', 'at'])
        .execute();

      await db.schema
        .createTable('usage_totals')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('period', 'text', (c) => c.notNull())
        .addColumn('starts_at', 'bigint', (c) => c.notNull())
        .addColumn('requests', 'bigint', (c) => c.notNull())
        .addColumn('tokens', 'bigint', (c) => c.notNull())
        .addColumn('usd', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_totals_pk', ['platform', 'workspace_id', 'user_id', 'period', 'starts_at'])
        .execute();

      await db.schema
        .createTable('conversation_resets')
        .ifNotExists()
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('meta')
        .ifNotExists()
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('claimed_events')
        .ifNotExists()
        .addColumn('event_id', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('claimed_events_expiry')
        .ifNotExists()
        .on('claimed_events')
        .column('expires_at')
        .execute();
    },
  },
  {
    version: 2,
    name: 'crash-recovery',
    async up(db) {
      await db.schema
        .createTable('instances')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('active_answers')
        .ifNotExists()
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('message_ref', 'text')
        .execute();
      await db.schema.createIndex('active_answers_owner').ifNotExists().on('active_answers').column('owner').execute();
    },
  },
  {
    version: 3,
    name: 'answer-records',
    async up(db) {
      await db.schema
        .createTable('answer_records')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('asker_id', 'text')
        .addColumn('asker_name', 'text')
        .addColumn('prompt', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('answer_records_pk', ['platform', 'channel_id', 'message_id'])
        .execute();
      await db.schema.createIndex('answer_records_at').ifNotExists().on('answer_records').column('at').execute();

      await addColumnIfNotExists(db, 'active_answers', 'message_body', 'text');
    },
  },
  {
    version: 4,
    name: 'stop-requests',
    async up(db) {
      await db.schema
        .createTable('stop_requests')
        .ifNotExists()
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  {
    version: 5,
    name: 'reasoning-tokens',
    async up(db) {
      // Of tokens_out, what a reasoning model spent thinking; rows from before count 0.
      await addColumnIfNotExists(db, 'usage_ledger', 'tokens_reasoning', 'bigint not null default 0');
    },
  },
  {
    version: 6,
    name: 'cached-tokens',
    async up(db) {
      // Of tokens_in, what the provider read from its cache; rows from before count 0.
      await addColumnIfNotExists(db, 'usage_ledger', 'tokens_cached', 'bigint not null default 0');
    },
  },
  {
    version: 7,
    name: 'web-search-requests',
    async up(db) {
      // Searches OpenRouter ran for the answer; rows from before count 0.
      await addColumnIfNotExists(db, 'usage_ledger', 'web_search_requests', 'bigint not null default 0');
    },
  },
  {
    version: 8,
    name: 'attachments',
    async up(db) {
      // Files a question carried; rows from before count 0.
      await addColumnIfNotExists(db, 'usage_ledger', 'attachments', 'bigint not null default 0');
      // A parsed PDF's annotations (JSON), sent back on follow-ups so it is not parsed again.
      await addColumnIfNotExists(db, 'answer_records', 'annotations', 'text');
    },
  },
  {
    version: 9,
    name: 'images-out',
    async up(db) {
      // Pictures the model returned with the answer (image output); rows from before count 0.
      await addColumnIfNotExists(db, 'usage_ledger', 'images_out', 'bigint not null default 0');
    },
  },
  {
    version: 10,
    name: 'postgres-quota-functions',
    async up(db) {
      // The quota path in one round trip on PostgreSQL (see postgres-quota.ts); SQLite has nothing to install.
      if (db.getExecutor().adapter instanceof SqliteAdapter) return;
      for (const statement of POSTGRES_QUOTA_FUNCTIONS_V10) await sql.raw(statement).execute(db);
    },
  },
  {
    version: 11,
    name: 'feedback-and-assistant-threads',
    async up(db) {
      // 👍/👎 on answers: one vote per user per answer (a second press replaces it).
      await db.schema
        .createTable('answer_feedback')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('vote', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('answer_feedback_pk', ['platform', 'request_id', 'user_id'])
        .execute();
      await db.schema.createIndex('answer_feedback_request').ifNotExists().on('answer_feedback').column('request_id').execute();
      // Slack's assistant threads: the channel the user was viewing (its settings apply) and whether the title was set.
      await db.schema
        .createTable('assistant_threads')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('thread_ts', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('context_team_id', 'text')
        .addColumn('context_channel_id', 'text')
        .addColumn('titled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('assistant_threads_pk', ['platform', 'channel_id', 'thread_ts'])
        .execute();
    },
  },
  {
    version: 12,
    name: 'quota-tiers',
    async up(db) {
      // Roles and user groups as quota tiers: their limits live in quota_limits
      // (subject_kind 'role', user_id the role's id); this names them.
      await db.schema
        .createTable('quota_tiers')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('role_id', 'text', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_tiers_pk', ['platform', 'workspace_id', 'role_id'])
        .execute();
    },
  },
  {
    version: 13,
    name: 'answer-prompt-files',
    async up(db) {
      // Files an /ask carried as an option (no message holds them): kept with the answer so replies send them again.
      await addColumnIfNotExists(db, 'answer_records', 'prompt_files', 'text');
    },
  },
  {
    version: 14,
    name: 'quota-limit-versions',
    async up(db) {
      // Every change to a workspace's limits raises its version (triggers, so no
      // writer can forget): limits may be cached per process and are checked
      // against it in the reserve itself (QuotaService, ReserveRequest.limitsVersion).
      await db.schema
        .createTable('quota_limit_versions')
        .ifNotExists()
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('quota_limit_versions_pk', ['platform', 'workspace_id'])
        .execute();
      const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
      for (const statement of QUOTA_LIMIT_VERSION_TRIGGERS[sqlite ? 'sqlite' : 'postgres']) await sql.raw(statement).execute(db);
      // PostgreSQL: reserves, top-ups and settles of many workspaces in one statement.
      if (!sqlite) for (const statement of POSTGRES_QUOTA_BATCH_FUNCTIONS) await sql.raw(statement).execute(db);
    },
  },
];

/**
 * ALTER TABLE … ADD COLUMN IF NOT EXISTS, which PostgreSQL has and SQLite does
 * not: there the column is looked up first (inside the same transaction).
 */
async function addColumnIfNotExists(
  db: Kysely<Database>,
  table: keyof Database,
  column: string,
  type: 'text' | 'bigint not null default 0',
): Promise<void> {
  const dataType = type === 'text' ? 'text' : 'bigint';
  const constraints = (c: ColumnDefinitionBuilder) => (type === 'text' ? c : c.notNull().defaultTo(0));
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info(${table}) where name = ${column}`.execute(db);
    if (rows.length > 0) return;
    await db.schema.alterTable(table).addColumn(column, dataType, constraints).execute();
    return;
  }
  await db.schema
    .alterTable(table)
    .addColumn(column, dataType, (c) => constraints(c).ifNotExists())
    .execute();
}

/**
 * Applies the pending migrations. The caller holds the backend's migration lock
 * and passes a connection inside one transaction.
 */
export async function applyMigrations(db: Kysely<Database>, now: number): Promise<number[]> {
  await db.schema
    .createTable('schema_migrations')
    .ifNotExists()
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'bigint', (c) => c.notNull())
    .execute();
  const rows = await db.selectFrom('schema_migrations').select('version').execute();
  const applied = new Set(rows.map((r) => Number(r.version)));
  const done: number[] = [];
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    await migration.up(db);
    await db
      .insertInto('schema_migrations')
      .values({ version: migration.version, name: migration.name, applied_at: now })
      .execute();
    done.push(migration.version);
  }
  return done;
}
