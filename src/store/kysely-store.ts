import type { Logger } from 'pino';
import type { Backend } from './backend.ts';
import { applyMigrations } from './migrations.ts';
import { fromLedgerRow, toLedgerRow } from './ledger-rows.ts';
import { checkServerLimit, checkUserLimits, utcWindows } from './quota.ts';
import { addToTotals, addUsage, readUsage } from './usage.ts';
import { prepare, type Prepared } from './prepared.ts';
import type { Database } from './schema.ts';
import { sql } from 'kysely';
import {
  type LedgerGroupKey,
  QUOTA_LIMITS,
  type QuotaLimitName,
  type QuotaLimitSet,
  type QuotaLimitValues,
  type QuotaSubject,
  type SettingsScope,
  type Store,
} from './types.ts';

/** The Store on top of one kysely query layer; `backend` supplies locking and transactions. */
export function createKyselyStore(backend: Backend, logger: Logger): Store {
  const { run, transaction } = backend;

  const store: Store = {
    kind: backend.kind,

    async migrate() {
      const applied = await backend.migrate((trx) => applyMigrations(trx, Date.now()));
      if (applied.length > 0) logger.info({ versions: applied, backend: backend.kind }, 'store migrated');
    },

    close: () => backend.close(),

    async ping() {
      await run((db) => db.selectNoFrom((eb) => eb.lit(1).as('one')).execute());
    },

    async getSettings(scope) {
      const [values] = await store.getSettingsOf([scope]);
      return values!;
    },

    async getSettingsOf(scopes) {
      if (scopes.length === 0) return [];
      const values = scopes.flatMap((scope) => [scope.platform, scope.kind, scope.id]);
      const { rows } = await run((db) => settingsOf(scopes.length).run<SettingRow>(db, ...values));
      return scopes.map((scope) =>
        Object.fromEntries(
          rows
            .filter((r) => r.platform === scope.platform && r.scope_kind === scope.kind && r.scope_id === scope.id)
            .map((r) => [r.key, JSON.parse(r.value) as unknown]),
        ),
      );
    },

    async setSetting(scope, key, value) {
      if (value === undefined) {
        await run((db) => scoped(db.deleteFrom('settings'), scope).where('key', '=', key).execute());
        return;
      }
      const json = JSON.stringify(value) as string | undefined;
      if (json === undefined) throw new TypeError(`setting "${key}" is not JSON-serialisable`);
      await run((db) =>
        db
          .insertInto('settings')
          .values({ platform: scope.platform, scope_kind: scope.kind, scope_id: scope.id, key, value: json })
          .onConflict((oc) =>
            oc
              .columns(['platform', 'scope_kind', 'scope_id', 'key'])
              .doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
          )
          .execute(),
      );
    },

    async clearSettings(scope, keys) {
      if (keys !== undefined && keys.length === 0) return;
      await run((db) =>
        scoped(db.deleteFrom('settings'), scope)
          .$if(keys !== undefined, (qb) => qb.where('key', 'in', keys ?? []))
          .execute(),
      );
    },

    async getQuotaLimits(platform, workspaceId, subject) {
      const rows = await run((db) =>
        ofSubject(db.selectFrom('quota_limits'), platform, workspaceId, subject)
          .select(['limit_name', 'value'])
          .execute(),
      );
      const values: QuotaLimitValues = {};
      for (const row of rows) putLimit(values, row);
      return values;
    },

    async getQuotaLimitSet(platform, workspaceId, userId) {
      const { rows } = await run((db) => quotaLimitSet.run<{ subject_kind: string; limit_name: string; value: number | string | null }>(db, platform, workspaceId, userId));
      const set: QuotaLimitSet = { user: {}, default: {}, server: {} };
      for (const row of rows) {
        const kind = row.subject_kind;
        if (kind === 'user' || kind === 'default' || kind === 'server') putLimit(set[kind], row);
      }
      return set;
    },

    async setQuotaLimit(platform, workspaceId, subject, limit, value) {
      if (value === undefined) {
        await run((db) =>
          ofSubject(db.deleteFrom('quota_limits'), platform, workspaceId, subject)
            .where('limit_name', '=', limit)
            .execute(),
        );
        return;
      }
      await run((db) =>
        db
          .insertInto('quota_limits')
          .values({
            platform,
            workspace_id: workspaceId,
            subject_kind: subject.kind,
            user_id: subject.kind === 'user' ? subject.userId : '',
            limit_name: limit,
            value,
          })
          .onConflict((oc) =>
            oc
              .columns(['platform', 'workspace_id', 'subject_kind', 'user_id', 'limit_name'])
              .doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
          )
          .execute(),
      );
    },

    async clearQuotaLimits(platform, workspaceId, subject) {
      await run((db) => ofSubject(db.deleteFrom('quota_limits'), platform, workspaceId, subject).execute());
    },

    async reserve(request) {
      const { user, limits, estimate } = request;
      const now = request.now.getTime();
      const windows = utcWindows(request.now);
      return transaction(quotaLockKey(user.platform, user.workspaceId), async (trx) => {
        const usage = await readUsage(trx, user.platform, user.workspaceId, user.userId, windows, now);
        let refusal = checkUserLimits(usage, limits, estimate, windows);
        if (refusal === undefined && limits.serverUsdPerMonth !== null && limits.serverUsdPerMonth !== undefined) {
          const workspace = await readUsage(trx, user.platform, user.workspaceId, undefined, windows, now);
          refusal = checkServerLimit(workspace.month.usd + workspace.live.usd, limits, estimate.usd, windows);
        }
        if (refusal !== undefined) return refusal;
        await insertReservation.run(
          trx,
          request.id,
          user.platform,
          user.workspaceId,
          user.userId,
          request.channelId,
          estimate.tokens,
          estimate.usd,
          now,
          now + request.ttlMs,
          request.owner ?? null,
        );
        return { ok: true } as const;
      });
    },

    async settle(reservationId, entry) {
      // Same lock as reserve: a reserve sees the reservation and the settled
      // totals either both before or both after this transaction.
      await transaction(quotaLockKey(entry.platform, entry.workspaceId), async (trx) => {
        if (reservationId !== null) await deleteReservation.run(trx, reservationId);
        // With the ledger row, so a crash cannot leave a settled answer to be marked interrupted.
        await deleteActiveAnswer.run(trx, entry.requestId);
        const row = toLedgerRow(entry);
        const inserted = await insertLedgerRow.run(trx, ...LEDGER_COLUMNS.map((column) => row[column]));
        // A repeated settle inserts nothing and must not count twice.
        if (Number(inserted.numAffectedRows ?? 0) === 0 || entry.outcome === 'refused') return;
        await addToTotals(trx, entry);
      });
    },

    async expireReservations(now) {
      const at = now.getTime();
      const result = await run((db) => db.deleteFrom('reservations').where('expires_at', '<=', at).executeTakeFirst());
      // Housekeeping for the event claims rides along; they are only looked up by id.
      await run((db) => db.deleteFrom('claimed_events').where('expires_at', '<=', at).execute());
      return Number(result.numDeletedRows);
    },

    async releaseReservations(owner) {
      const result = await run((db) => db.deleteFrom('reservations').where('owner', '=', owner).executeTakeFirst());
      return Number(result.numDeletedRows);
    },

    async usage(platform, workspaceId, userId, now) {
      const windows = utcWindows(now);
      // Under the quota lock, so a settle is seen whole: reservation gone and totals added.
      const parts = await transaction(quotaLockKey(platform, workspaceId), (trx) =>
        readUsage(trx, platform, workspaceId, userId, windows, now.getTime()),
      );
      return {
        day: addUsage(parts.day, parts.live),
        month: addUsage(parts.month, parts.live),
        reserved: parts.live,
        dayResetsAt: new Date(windows.dayEnd),
        monthResetsAt: new Date(windows.monthEnd),
      };
    },

    async ledger(query) {
      const rows = await run((db) =>
        db
          .selectFrom('usage_ledger')
          .selectAll()
          .$if(query.platform !== undefined, (qb) => qb.where('platform', '=', query.platform ?? ''))
          .$if(query.workspaceId !== undefined, (qb) => qb.where('workspace_id', '=', query.workspaceId ?? ''))
          .$if(query.userId !== undefined, (qb) => qb.where('user_id', '=', query.userId ?? ''))
          .$if(query.from !== undefined, (qb) => qb.where('at', '>=', query.from?.getTime() ?? 0))
          .$if(query.to !== undefined, (qb) => qb.where('at', '<', query.to?.getTime() ?? 0))
          .orderBy('at')
          .orderBy('request_id')
          .$if(query.limit !== undefined, (qb) => qb.limit(query.limit ?? 0))
          .execute(),
      );
      return rows.map(fromLedgerRow);
    },

    async ledgerTotals(query) {
      const keys = [...new Set(query.groupBy)];
      if (keys.length === 0) throw new TypeError('ledgerTotals needs at least one groupBy key');
      const rows = await run((db) => {
        let qb = db
          .selectFrom('usage_ledger')
          .where('outcome', '!=', 'refused')
          .$if(query.platform !== undefined, (q) => q.where('platform', '=', query.platform ?? ''))
          .$if(query.workspaceId !== undefined, (q) => q.where('workspace_id', '=', query.workspaceId ?? ''))
          .$if(query.from !== undefined, (q) => q.where('at', '>=', query.from?.getTime() ?? 0))
          .$if(query.to !== undefined, (q) => q.where('at', '<', query.to?.getTime() ?? 0))
          .select((eb) => [
            eb.fn.countAll().as('requests'),
            eb.fn.coalesce(eb.fn.sum('tokens_in'), eb.lit(0)).as('tokens_in'),
            eb.fn.coalesce(eb.fn.sum('tokens_out'), eb.lit(0)).as('tokens_out'),
            eb.fn.coalesce(eb.fn.sum('cost_usd'), eb.lit(0)).as('cost_usd'),
          ]);
        for (const key of keys) {
          const expression = GROUP_EXPRESSIONS[key];
          qb = qb.select(expression.as(`g_${key}`)).groupBy(expression);
        }
        return qb
          .orderBy(sql`sum(cost_usd)`, 'desc')
          .orderBy(sql`count(*)`, 'desc')
          .$call((q) => keys.reduce((acc, key) => acc.orderBy(GROUP_EXPRESSIONS[key], 'asc'), q))
          .$if(query.limit !== undefined, (q) => q.limit(query.limit ?? 0))
          .execute();
      });
      return rows.map((row) => {
        const record = row as Record<string, unknown>;
        return {
          group: Object.fromEntries(keys.map((key) => [key, String(record[`g_${key}`])])),
          requests: Number(record.requests),
          tokensIn: Number(record.tokens_in),
          tokensOut: Number(record.tokens_out),
          costUsd: Number(record.cost_usd),
        };
      });
    },

    async setConversationReset(key, at) {
      await run((db) =>
        db
          .insertInto('conversation_resets')
          .values({ key, at: at.getTime() })
          .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ at: eb.ref('excluded.at') })))
          .execute(),
      );
    },

    async getConversationReset(key) {
      const [row] = (await run((db) => conversationReset.run<{ at: number | string }>(db, key))).rows;
      return row === undefined ? undefined : new Date(Number(row.at));
    },

    async getMeta(key) {
      const row = await run((db) => db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst());
      return row?.value;
    },

    async setMeta(key, value) {
      await run((db) =>
        db
          .insertInto('meta')
          .values({ key, value })
          .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))
          .execute(),
      );
    },

    claimEvent(eventId, now, ttlMs) {
      return store.claimEvents([eventId], now, ttlMs);
    },

    async claimEvents(eventIds, now, ttlMs) {
      const ids = [...new Set(eventIds)];
      if (ids.length === 0) return true;
      const at = now.getTime();
      // One statement: insert, or take over a claim that has expired. RETURNING
      // yields a row only for the ids this caller inserted or took over.
      const rows = await run((db) =>
        db
          .insertInto('claimed_events')
          .values(ids.map((id) => ({ event_id: id, expires_at: at + ttlMs })))
          .onConflict((oc) =>
            oc
              .column('event_id')
              .doUpdateSet((eb) => ({ expires_at: eb.ref('excluded.expires_at') }))
              .where('claimed_events.expires_at', '<=', at),
          )
          .returning('event_id')
          .execute(),
      );
      return rows.length === ids.length;
    },

    async heartbeat(instanceId, now) {
      await run((db) =>
        db
          .insertInto('instances')
          .values({ id: instanceId, heartbeat_at: now.getTime() })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ heartbeat_at: eb.ref('excluded.heartbeat_at') })))
          .execute(),
      );
    },

    async trackAnswer(answer) {
      await run((db) =>
        insertActiveAnswer.run(
          db,
          answer.requestId,
          answer.platform,
          answer.workspaceId,
          answer.channelId,
          answer.userId,
          answer.model,
          answer.owner,
          answer.startedAt.getTime(),
          answer.messageRef,
        ),
      );
    },

    async setAnswerMessageRef(requestId, ref) {
      await run((db) => updateAnswerMessageRef.run(db, ref, requestId));
    },

    async takeOrphanedAnswers(now, staleMs, selfId) {
      const staleBefore = now.getTime() - staleMs;
      return transaction(ORPHANS_LOCK_KEY, async (trx) => {
        const stale = await trx
          .selectFrom('instances')
          .select('id')
          .where('heartbeat_at', '<', staleBefore)
          .where('id', '!=', selfId)
          .execute();
        const owners = stale.map((row) => row.id);
        if (owners.length === 0) return [];
        // Taken over rather than deleted: they stay tracked until settled (see the Store docs).
        const rows = await trx
          .updateTable('active_answers')
          .set({ owner: selfId })
          .where('owner', 'in', owners)
          .returningAll()
          .execute();
        await trx.deleteFrom('reservations').where('owner', 'in', owners).execute();
        await trx.deleteFrom('instances').where('id', 'in', owners).execute();
        return rows
          .map((row) => ({
            requestId: row.request_id,
            platform: row.platform,
            workspaceId: row.workspace_id,
            channelId: row.channel_id,
            userId: row.user_id,
            model: row.model,
            owner: row.owner,
            startedAt: new Date(Number(row.started_at)),
            messageRef: row.message_ref,
          }))
          .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.requestId.localeCompare(b.requestId));
      });
    },
  };
  return store;
}

// ---- prepared queries of the path every answer takes (reserve, track, settle) ----

interface SettingRow {
  platform: string;
  scope_kind: string;
  scope_id: string;
  key: string;
  value: string;
}

/** The settings of N scopes (channel, parent channel, server): one prepared query per N. */
const settingsQueries = new Map<number, Prepared<string[]>>();
function settingsOf(count: number): Prepared<string[]> {
  let query = settingsQueries.get(count);
  if (query === undefined) {
    query = prepare(3 * count, (db, ...values: string[]) =>
      db
        .selectFrom('settings')
        .select(['platform', 'scope_kind', 'scope_id', 'key', 'value'])
        .where((eb) =>
          eb.or(
            Array.from({ length: count }, (_, i) =>
              eb.and([eb('platform', '=', values[3 * i]!), eb('scope_kind', '=', values[3 * i + 1]!), eb('scope_id', '=', values[3 * i + 2]!)]),
            ),
          ),
        )
        .orderBy('key'),
    );
    settingsQueries.set(count, query);
  }
  return query;
}

const conversationReset = prepare(1, (db, key: string) => db.selectFrom('conversation_resets').select('at').where('key', '=', key));

const insertActiveAnswer = prepare(
  9,
  (db, requestId: string, platform: string, workspaceId: string, channelId: string, userId: string, model: string, owner: string, startedAt: number, messageRef: string | null) =>
    db
      .insertInto('active_answers')
      .values({
        request_id: requestId,
        platform,
        workspace_id: workspaceId,
        channel_id: channelId,
        user_id: userId,
        model,
        owner,
        started_at: startedAt,
        message_ref: messageRef,
      })
      .onConflict((oc) => oc.column('request_id').doNothing()),
);

const updateAnswerMessageRef = prepare(2, (db, ref: string | null, requestId: string) =>
  db.updateTable('active_answers').set({ message_ref: ref }).where('request_id', '=', requestId),
);

const quotaLimitSet = prepare(3, (db, platform: string, workspaceId: string, userId: string) =>
  db
    .selectFrom('quota_limits')
    .select(['subject_kind', 'limit_name', 'value'])
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where((eb) => eb.or([eb('subject_kind', 'in', ['default', 'server']), eb.and([eb('subject_kind', '=', 'user'), eb('user_id', '=', userId)])])),
);

const insertReservation = prepare(
  10,
  (db, id: string, platform: string, workspaceId: string, userId: string, channelId: string, tokens: number, usd: number, createdAt: number, expiresAt: number, owner: string | null) =>
    db.insertInto('reservations').values({
      id,
      platform,
      workspace_id: workspaceId,
      user_id: userId,
      channel_id: channelId,
      tokens,
      usd,
      created_at: createdAt,
      expires_at: expiresAt,
      owner,
    }),
);

const deleteReservation = prepare(1, (db, id: string) => db.deleteFrom('reservations').where('id', '=', id));

const deleteActiveAnswer = prepare(1, (db, requestId: string) => db.deleteFrom('active_answers').where('request_id', '=', requestId));

const LEDGER_COLUMNS = Object.keys(
  toLedgerRow({
    requestId: '',
    at: new Date(0),
    platform: '',
    workspaceId: '',
    channelId: '',
    userId: '',
    modelRequested: '',
    modelAnswered: null,
    tokensIn: 0,
    tokensOut: 0,
    costUsd: 0,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
  }),
) as Array<keyof Database['usage_ledger']>;

const insertLedgerRow = prepare(LEDGER_COLUMNS.length, (db, ...values: unknown[]) =>
  db
    .insertInto('usage_ledger')
    .values(Object.fromEntries(LEDGER_COLUMNS.map((column, i) => [column, values[i]])) as Database['usage_ledger'])
    .onConflict((oc) => oc.column('request_id').doNothing()),
);

/** Serialises sweepers, so two processes starting at once never take the same answers. */
const ORPHANS_LOCK_KEY = 'switchboard:orphans';

/** Column (or expression) behind each ledgerTotals group key. */
const GROUP_EXPRESSIONS: Record<LedgerGroupKey, ReturnType<typeof sql<string>>> = {
  platform: sql<string>`platform`,
  workspaceId: sql<string>`workspace_id`,
  userId: sql<string>`user_id`,
  channelId: sql<string>`channel_id`,
  model: sql<string>`coalesce(model_answered, model_requested)`,
};

/** One lock per workspace: the server budget spans all its users. */
function quotaLockKey(platform: string, workspaceId: string): string {
  return `switchboard:quota:${platform}\n${workspaceId}`;
}

interface ScopeFilterable<T> {
  where(column: 'platform' | 'scope_kind' | 'scope_id', op: '=', value: string): T;
}

function scoped<T extends ScopeFilterable<T>>(qb: T, scope: SettingsScope): T {
  return qb.where('platform', '=', scope.platform).where('scope_kind', '=', scope.kind).where('scope_id', '=', scope.id);
}

interface SubjectFilterable<T> {
  where(column: 'platform' | 'workspace_id' | 'subject_kind' | 'user_id', op: '=', value: string): T;
}

function ofSubject<T extends SubjectFilterable<T>>(
  qb: T,
  platform: string,
  workspaceId: string,
  subject: QuotaSubject,
): T {
  return qb
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where('subject_kind', '=', subject.kind)
    .where('user_id', '=', subject.kind === 'user' ? subject.userId : '');
}

function putLimit(values: QuotaLimitValues, row: { limit_name: string; value: number | string | null }): void {
  if (isQuotaLimitName(row.limit_name)) values[row.limit_name] = row.value === null ? null : Number(row.value);
}

function isQuotaLimitName(name: string): name is QuotaLimitName {
  return (QUOTA_LIMITS as readonly string[]).includes(name);
}
