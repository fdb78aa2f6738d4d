import type { Logger } from 'pino';
import type { Backend } from './backend.ts';
import { feedbackStoreMethods } from './feedback-store.ts';
import { applyMigrations } from './migrations.ts';
import { fromLedgerRow, toLedgerRow } from './ledger-rows.ts';
import { checkServerLimit, checkUserLimits, utcWindows } from './quota.ts';
import { addToTotals, addUsage, readUsage } from './usage.ts';
import { createPostgresQuota } from './postgres-quota.ts';
import { prepare, type Prepared } from './prepared.ts';
import type { Database } from './schema.ts';
import { sql, type Kysely } from 'kysely';
import {
  type ActiveAnswer,
  type AnswerRecord,
  type RecordedFile,
  type LedgerGroupKey,
  QUOTA_LIMITS,
  type QuotaLimitName,
  type QuotaLimitSet,
  type QuotaLimitValues,
  type QuotaSubject,
  type ReserveRequest,
  type ReserveResult,
  type SettingsScope,
  type Store,
  type TopUpResult,
} from './types.ts';

/** The Store on top of one kysely query layer; `backend` supplies locking and transactions. */
export function createKyselyStore(
  backend: Backend,
  logger: Logger,
  /** quotaFunctions false: PostgreSQL takes the transaction path SQLite takes (the bench's before/after). */
  options: { quotaFunctions?: boolean } = {},
): Store {
  const { run, transaction } = backend;
  /** reserve, topUp and settle as the functions of migration 10 (postgres-quota.ts): one round trip each. */
  const postgresQuota = backend.kind === 'postgres' && options.quotaFunctions !== false ? createPostgresQuota(run) : undefined;
  /** The database's clock in epoch ms: heartbeats and staleness never compare two hosts' clocks. */
  const dbNowMs =
    backend.kind === 'sqlite'
      ? sql<number>`cast(unixepoch('subsec') * 1000 as integer)`
      : sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

  const store: Store = {
    kind: backend.kind,
    ...feedbackStoreMethods(run),

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

    async getQuotaLimitSet(platform, workspaceId, userId, roleIds) {
      type Row = { subject_kind: string; user_id: string; limit_name: string; value: number | string | null };
      const roles = [...new Set(roleIds ?? [])];
      const { rows } =
        roles.length === 0
          ? await run((db) => quotaLimitSet.run<Row>(db, platform, workspaceId, userId))
          : { rows: await run((db) => quotaLimitSetWithRoles(db, platform, workspaceId, userId, roles).execute()) };
      // The version row comes in the same statement, so it is of the same snapshot as the limits.
      const set: QuotaLimitSet = { user: {}, default: {}, server: {}, version: 0 };
      if (roleIds !== undefined) set.roles = {};
      for (const row of rows) {
        const kind = row.subject_kind;
        if (kind === VERSION_ROW) set.version = Number(row.value);
        if (kind === 'user' || kind === 'default' || kind === 'server') putLimit(set[kind], row);
        else if (kind === 'role' && set.roles) putLimit((set.roles[row.user_id] ??= {}), row);
      }
      return set;
    },

    async setQuotaTier(platform, workspaceId, roleId, label) {
      await run((db) =>
        db
          .insertInto('quota_tiers')
          .values({ platform, workspace_id: workspaceId, role_id: roleId, label })
          .onConflict((oc) => oc.columns(['platform', 'workspace_id', 'role_id']).doUpdateSet((eb) => ({ label: eb.ref('excluded.label') })))
          .execute(),
      );
    },

    async listQuotaTiers(platform, workspaceId) {
      const [tiers, limits] = await Promise.all([
        run((db) => db.selectFrom('quota_tiers').select(['role_id', 'label']).where('platform', '=', platform).where('workspace_id', '=', workspaceId).execute()),
        run((db) =>
          db
            .selectFrom('quota_limits')
            .select(['user_id', 'limit_name', 'value'])
            .where('platform', '=', platform)
            .where('workspace_id', '=', workspaceId)
            .where('subject_kind', '=', 'role')
            .execute(),
        ),
      ]);
      return tiers
        .map((tier) => {
          const values: QuotaLimitValues = {};
          for (const row of limits) if (row.user_id === tier.role_id) putLimit(values, row);
          return { roleId: tier.role_id, label: tier.label, limits: values };
        })
        .sort((a, b) => a.label.localeCompare(b.label) || a.roleId.localeCompare(b.roleId));
    },

    async deleteQuotaTier(platform, workspaceId, roleId) {
      await transaction(quotaLockKey(platform, workspaceId), async (trx) => {
        await ofSubject(trx.deleteFrom('quota_limits'), platform, workspaceId, { kind: 'role', roleId }).execute();
        await trx.deleteFrom('quota_tiers').where('platform', '=', platform).where('workspace_id', '=', workspaceId).where('role_id', '=', roleId).execute();
      });
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
            user_id: subjectId(subject),
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
      const { user } = request;
      if (postgresQuota) return postgresQuota.reserve(quotaLockKey(user.platform, user.workspaceId), request, false);
      return transaction(quotaLockKey(user.platform, user.workspaceId), (trx) => reserveIn(trx, request, undefined));
    },

    async topUp(request) {
      const { user } = request;
      // A top-up carries no limits version, so it is never answered stale.
      if (postgresQuota) return (await postgresQuota.reserve(quotaLockKey(user.platform, user.workspaceId), request, true)) as TopUpResult;
      return transaction(quotaLockKey(user.platform, user.workspaceId), async (trx) => {
        const [held] = (await liveReservation.run<{ tokens: number | string; usd: number | string }>(trx, request.id, request.now.getTime())).rows;
        return (await reserveIn(trx, request, held === undefined ? undefined : { tokens: Number(held.tokens), usd: Number(held.usd) })) as TopUpResult;
      });
    },

    async settle(reservationId, entry) {
      // PostgreSQL: the common settle is one statement; a row already in the
      // ledger that a sweeper may have written falls through to the transaction.
      if (postgresQuota && (await postgresQuota.settle(quotaLockKey(entry.platform, entry.workspaceId), reservationId, entry))) return;
      // Same lock as reserve: a reserve sees the reservation and the settled
      // totals either both before or both after this transaction.
      await transaction(quotaLockKey(entry.platform, entry.workspaceId), async (trx) => {
        if (reservationId !== null) await deleteReservation.run(trx, reservationId);
        // With the ledger row, so a crash cannot leave a settled answer to be marked interrupted.
        await deleteActiveAnswer.run(trx, entry.requestId);
        const row = toLedgerRow(entry);
        const inserted = await insertLedgerRow.run(trx, ...LEDGER_COLUMNS.map((column) => row[column]));
        if (Number(inserted.numAffectedRows ?? 0) === 0) {
          // A repeated settle must not count twice; only a real settle of an answer
          // a sweeper wrongly took for dead replaces the sweeper's row (the only
          // extra query, and only on this rare path).
          if (entry.errorKind === PROCESS_DIED || entry.outcome === 'refused') return;
          const { rows } = await replaceDiedRow.run<{ at: number | string }>(
            trx,
            entry.modelAnswered,
            entry.tokensIn,
            entry.tokensCached ?? 0,
            entry.tokensOut,
            entry.tokensReasoning ?? 0,
            entry.costUsd,
            entry.generationId,
            entry.outcome,
            entry.errorKind,
            entry.webSearchRequests ?? 0,
            entry.imagesOut ?? 0,
            entry.attachments ?? 0,
            entry.requestId,
          );
          // The replaced row was counted as one request with no usage: add the usage, in its windows.
          if (rows[0] !== undefined) await addToTotals(trx, { ...entry, at: new Date(Number(rows[0].at)) }, 0);
          return;
        }
        if (entry.outcome === 'refused') return;
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
          .orderBy('at', query.newestFirst ? 'desc' : 'asc')
          .orderBy('request_id', query.newestFirst ? 'desc' : 'asc')
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

    async getConversationResets(keys) {
      const unique = [...new Set(keys)];
      if (unique.length === 0) return undefined;
      let latest: number | undefined;
      for (const part of chunks(unique, MAX_VALUES_PER_QUERY)) {
        const size = bucketSize(part.length);
        const [row] = (await run((db) => latestResetOf(size).run<{ at: number | string | null }>(db, ...padded(part, size)))).rows;
        if (row?.at === null || row?.at === undefined) continue;
        latest = Math.max(latest ?? Number.NEGATIVE_INFINITY, Number(row.at));
      }
      return latest === undefined ? undefined : new Date(latest);
    },

    async recordAnswerMessages(records) {
      // The last record of a message wins, within the call as across calls (and
      // PostgreSQL refuses one upsert touching the same row twice).
      const latest = new Map<string, AnswerRecord>();
      for (const record of records) {
        const key = `${record.platform}\n${record.channelId}\n${record.messageId}`;
        latest.delete(key);
        latest.set(key, record);
      }
      if (latest.size === 0) return;
      const parts = chunks([...latest.values()], MAX_RECORDS_PER_STATEMENT);
      const write = async (db: Kysely<Database>) => {
        for (const part of parts) await upsertAnswerRecords(part.length).run(db, ...part.flatMap(answerRecordValues));
      };
      if (parts.length === 1) await run(write);
      else await transaction(ANSWER_RECORDS_LOCK_KEY, write);
    },

    async answerRecords(platform, channelId, messageIds) {
      const ids = [...new Set(messageIds)];
      if (ids.length === 0) return [];
      const rows: AnswerRecordRow[] = [];
      for (const part of chunks(ids, MAX_VALUES_PER_QUERY)) {
        const size = bucketSize(part.length);
        const result = await run((db) => answerRecordsOf(size).run<AnswerRecordRow>(db, platform, channelId, ...padded(part, size)));
        rows.push(...result.rows);
      }
      // In the order asked.
      const order = new Map(ids.map((id, i) => [id, i]));
      return rows
        .sort((a, b) => (order.get(a.message_id) ?? 0) - (order.get(b.message_id) ?? 0))
        .map(fromAnswerRecordRow);
    },

    async pruneAnswerRecords(before) {
      const result = await run((db) => db.deleteFrom('answer_records').where('at', '<', before.getTime()).executeTakeFirst());
      return Number(result.numDeletedRows);
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

    async heartbeat(instanceId) {
      await run((db) =>
        db
          .insertInto('instances')
          .values({ id: instanceId, heartbeat_at: dbNowMs })
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
          answer.messageBody,
        ),
      );
    },

    async setAnswerMessageRef(requestId, ref) {
      await run((db) => updateAnswerMessageRef.run(db, ref, requestId));
    },

    async setAnswerProgress(requestId, ref, body) {
      await run((db) => updateAnswerProgress.run(db, ref, body, requestId));
    },

    async takeOrphanedAnswers(staleMs, selfId) {
      return transaction(ORPHANS_LOCK_KEY, async (trx) => {
        // The clock is read after the lock: a sweeper that waited for another compares with the time it runs.
        const stale = await trx
          .selectFrom('instances')
          .select('id')
          .where('heartbeat_at', '<', sql<number>`${dbNowMs} - ${staleMs}`)
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
        return rows.map(fromActiveAnswerRow).sort(byStart);
      });
    },

    async activeAnswers(filter) {
      const rows = await run((db) =>
        db
          .selectFrom('active_answers')
          .selectAll()
          .where('platform', '=', filter.platform)
          .where('workspace_id', '=', filter.workspaceId)
          .$if(filter.userId !== undefined, (qb) => qb.where('user_id', '=', filter.userId ?? ''))
          .$if(filter.requestId !== undefined, (qb) => qb.where('request_id', '=', filter.requestId ?? ''))
          .execute(),
      );
      return rows.map(fromActiveAnswerRow).sort(byStart);
    },

    async requestStops(requestIds, requestedBy) {
      const ids = [...new Set(requestIds)];
      if (ids.length === 0) return;
      await transaction(STOP_REQUESTS_LOCK_KEY, async (trx) => {
        // Housekeeping rides along: a request for an answer that ended before its owner polled is never taken.
        await trx.deleteFrom('stop_requests').where('at', '<', sql<number>`${dbNowMs} - ${STOP_REQUEST_TTL_MS}`).execute();
        for (const part of chunks(ids, MAX_VALUES_PER_QUERY)) {
          await trx
            .insertInto('stop_requests')
            .values(part.map((id) => ({ request_id: id, requested_by: requestedBy, at: dbNowMs })))
            .onConflict((oc) => oc.column('request_id').doNothing())
            .execute();
        }
      });
    },

    async takeStopRequests(owner) {
      const { rows } = await run((db) => takeStopRequestsOf.run<{ request_id: string; requested_by: string }>(db, owner));
      return rows.map((row) => ({ requestId: row.request_id, requestedBy: row.requested_by }));
    },
  };
  return store;
}

/**
 * reserve and topUp, inside the quota lock. `held` is the live reservation
 * being raised (undefined: a new one); only the difference is checked.
 */
async function reserveIn(trx: Kysely<Database>, request: ReserveRequest, held: { tokens: number; usd: number } | undefined): Promise<ReserveResult> {
  const { user, limits, estimate } = request;
  const now = request.now.getTime();
  const windows = utcWindows(request.now);
  const adding = held === undefined ? estimate : { tokens: Math.max(0, estimate.tokens - held.tokens), usd: Math.max(0, estimate.usd - held.usd) };
  if (held !== undefined && adding.tokens === 0 && adding.usd === 0) return { ok: true };
  if (held === undefined && request.limitsVersion !== undefined) {
    const [current] = (await limitsVersion.run<{ version: number | string }>(trx, user.platform, user.workspaceId)).rows;
    if (Number(current?.version ?? 0) !== request.limitsVersion) return { ok: false, stale: true };
  }
  const usage = await readUsage(trx, user.platform, user.workspaceId, user.userId, windows, now);
  let refusal = checkUserLimits(usage, limits, adding, windows, held !== undefined);
  if (refusal === undefined && limits.serverUsdPerMonth !== null && limits.serverUsdPerMonth !== undefined) {
    const workspace = await readUsage(trx, user.platform, user.workspaceId, undefined, windows, now);
    refusal = checkServerLimit(workspace.month.usd + workspace.live.usd, limits, adding.usd, windows);
  }
  if (refusal !== undefined) return refusal;
  if (held !== undefined) {
    await raiseReservation.run(trx, Math.max(estimate.tokens, held.tokens), Math.max(estimate.usd, held.usd), request.id);
    return { ok: true };
  }
  // A top-up of a reservation that expired meanwhile replaces the dead row.
  await upsertReservation.run(
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
  return { ok: true };
}

type ActiveAnswerRow = Database['active_answers'];

function fromActiveAnswerRow(row: ActiveAnswerRow): ActiveAnswer {
  return {
    requestId: row.request_id,
    platform: row.platform,
    workspaceId: row.workspace_id,
    channelId: row.channel_id,
    userId: row.user_id,
    model: row.model,
    owner: row.owner,
    startedAt: new Date(Number(row.started_at)),
    messageRef: row.message_ref,
    messageBody: row.message_body,
  };
}

function byStart(a: ActiveAnswer, b: ActiveAnswer): number {
  return a.startedAt.getTime() - b.startedAt.getTime() || a.requestId.localeCompare(b.requestId);
}

/** The errorKind of the row a sweeper writes for an answer whose process died. */
const PROCESS_DIED = 'process-died';

/** Stop requests nobody took by then are dropped. */
const STOP_REQUEST_TTL_MS = 60 * 60 * 1000;

const STOP_REQUESTS_LOCK_KEY = 'switchboard:stop-requests';

/**
 * Polled every few hundred ms by each process while it has answers running:
 * one statement, by the active_answers owner index and the stop_requests key.
 */
const takeStopRequestsOf = prepare(1, (db, owner: string) =>
  db
    .deleteFrom('stop_requests')
    .where('request_id', 'in', (eb) => eb.selectFrom('active_answers').select('request_id').where('owner', '=', owner))
    .returning(['request_id', 'requested_by']),
);

/** A real settle replacing the row of a sweep that took a live process for dead (see Store.settle). */
const replaceDiedRow = prepare(
  13,
  (
    db,
    modelAnswered: string | null,
    tokensIn: number,
    tokensCached: number,
    tokensOut: number,
    tokensReasoning: number,
    costUsd: number,
    generationId: string | null,
    outcome: string,
    errorKind: string | null,
    webSearchRequests: number,
    imagesOut: number,
    attachments: number,
    requestId: string,
  ) =>
    db
      .updateTable('usage_ledger')
      .set({
        model_answered: modelAnswered,
        tokens_in: tokensIn,
        tokens_cached: tokensCached,
        tokens_out: tokensOut,
        tokens_reasoning: tokensReasoning,
        cost_usd: costUsd,
        generation_id: generationId,
        outcome,
        error_kind: errorKind,
        web_search_requests: webSearchRequests,
        images_out: imagesOut,
        attachments,
      })
      .where('request_id', '=', requestId)
      .where('error_kind', '=', PROCESS_DIED)
      .returning('at'),
);

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
  10,
  (
    db,
    requestId: string,
    platform: string,
    workspaceId: string,
    channelId: string,
    userId: string,
    model: string,
    owner: string,
    startedAt: number,
    messageRef: string | null,
    messageBody: string | null,
  ) =>
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
        message_body: messageBody,
      })
      .onConflict((oc) => oc.column('request_id').doNothing()),
);

const updateAnswerMessageRef = prepare(2, (db, ref: string | null, requestId: string) =>
  db.updateTable('active_answers').set({ message_ref: ref }).where('request_id', '=', requestId),
);

const updateAnswerProgress = prepare(3, (db, ref: string, body: string, requestId: string) =>
  db.updateTable('active_answers').set({ message_ref: ref, message_body: body }).where('request_id', '=', requestId),
);

// ---- conversation history: resets and the records of the bot's own messages ----

/**
 * Most values one `in (…)` list takes: well under SQLite's variable limit
 * (32766 in the SQLite better-sqlite3 bundles, 999 in old builds) and
 * PostgreSQL's 65535.
 */
const MAX_VALUES_PER_QUERY = 512;

/**
 * `in (…)` lists are padded (with repeats of their last value) to the next
 * power of two, so a handful of prepared shapes serve every length.
 */
function bucketSize(count: number): number {
  let size = 1;
  while (size < count) size *= 2;
  return size;
}

function padded<T>(values: readonly T[], size: number): T[] {
  const last = values[values.length - 1]!;
  return [...values, ...Array.from({ length: size - values.length }, () => last)];
}

function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}

/** One prepared query per count, built on first use. */
function perCount<A extends unknown[]>(build: (count: number) => Prepared<A>): (count: number) => Prepared<A> {
  const cache = new Map<number, Prepared<A>>();
  return (count) => {
    let query = cache.get(count);
    if (query === undefined) {
      query = build(count);
      cache.set(count, query);
    }
    return query;
  };
}

const latestResetOf = perCount((count) =>
  prepare(count, (db, ...keys: string[]) =>
    db
      .selectFrom('conversation_resets')
      .select((eb) => eb.fn.max('at').as('at'))
      .where('key', 'in', keys),
  ),
);

/** An answer_records row as the drivers return it (PostgreSQL gives bigints as strings). */
type AnswerRecordRow = Omit<Database['answer_records'], 'at'> & { at: number | string };

const ANSWER_RECORD_COLUMNS = [
  'platform',
  'channel_id',
  'message_id',
  'request_id',
  'kind',
  'text',
  'asker_id',
  'asker_name',
  'prompt',
  'at',
  'annotations',
  'prompt_files',
] as const satisfies ReadonlyArray<keyof Database['answer_records']>;

/** Rows per upsert statement: 12 values a row, under every variable limit (see MAX_VALUES_PER_QUERY). */
const MAX_RECORDS_PER_STATEMENT = 80;

/** Serialises the rare upsert that takes more than one statement, so it lands whole. */
const ANSWER_RECORDS_LOCK_KEY = 'switchboard:answer-records';

/** A record's values in ANSWER_RECORD_COLUMNS order. */
function answerRecordValues(record: AnswerRecord): unknown[] {
  return [
    record.platform,
    record.channelId,
    record.messageId,
    record.requestId,
    record.kind,
    record.text,
    record.askerId,
    record.askerName,
    record.prompt,
    record.at.getTime(),
    record.annotations && record.annotations.length > 0 ? JSON.stringify(record.annotations) : null,
    record.promptFiles && record.promptFiles.length > 0 ? JSON.stringify(record.promptFiles) : null,
  ];
}

/** Stored prompt files back as a list; unreadable or malformed entries are left out. */
function promptFilesOf(json: string | null): Pick<AnswerRecord, 'promptFiles'> {
  if (json === null || json === '') return {};
  try {
    const parsed: unknown = JSON.parse(json);
    if (!Array.isArray(parsed)) return {};
    const files = (parsed as unknown[]).filter((f): f is RecordedFile => {
      const file = f as Partial<Record<keyof RecordedFile, unknown>> | null;
      return typeof file?.id === 'string' && typeof file.name === 'string' && typeof file.size === 'number' && typeof file.url === 'string';
    });
    return files.length > 0 ? { promptFiles: files } : {};
  } catch {
    return {};
  }
}

/** Stored annotations back as a list; a row without (or with unreadable) annotations has none. */
function annotationsOf(json: string | null): Pick<AnswerRecord, 'annotations'> {
  if (json === null || json === '') return {};
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) && parsed.length > 0 ? { annotations: parsed } : {};
  } catch {
    return {};
  }
}

function fromAnswerRecordRow(row: AnswerRecordRow): AnswerRecord {
  return {
    platform: row.platform,
    channelId: row.channel_id,
    messageId: row.message_id,
    requestId: row.request_id,
    kind: row.kind === 'question' ? 'question' : 'answer',
    text: row.text,
    askerId: row.asker_id,
    askerName: row.asker_name,
    prompt: row.prompt,
    at: new Date(Number(row.at)),
    ...annotationsOf(row.annotations),
    ...promptFilesOf(row.prompt_files),
  };
}

const upsertAnswerRecords = perCount((count) =>
  prepare(count * ANSWER_RECORD_COLUMNS.length, (db, ...values: unknown[]) =>
    db
      .insertInto('answer_records')
      .values(
        Array.from(
          { length: count },
          (_, row) =>
            Object.fromEntries(
              ANSWER_RECORD_COLUMNS.map((column, i) => [column, values[row * ANSWER_RECORD_COLUMNS.length + i]]),
            ) as Database['answer_records'],
        ),
      )
      .onConflict((oc) =>
        oc.columns(['platform', 'channel_id', 'message_id']).doUpdateSet((eb) => ({
          request_id: eb.ref('excluded.request_id'),
          kind: eb.ref('excluded.kind'),
          text: eb.ref('excluded.text'),
          asker_id: eb.ref('excluded.asker_id'),
          asker_name: eb.ref('excluded.asker_name'),
          prompt: eb.ref('excluded.prompt'),
          at: eb.ref('excluded.at'),
          annotations: eb.ref('excluded.annotations'),
          prompt_files: eb.ref('excluded.prompt_files'),
        })),
      ),
  ),
);

const answerRecordsOf = perCount((count) =>
  prepare(count + 2, (db, platform: string, channelId: string, ...messageIds: string[]) =>
    db
      .selectFrom('answer_records')
      .select(ANSWER_RECORD_COLUMNS)
      .where('platform', '=', platform)
      .where('channel_id', '=', channelId)
      .where('message_id', 'in', messageIds),
  ),
);

const quotaLimitSet = prepare(3, (db, platform: string, workspaceId: string, userId: string) =>
  db
    .selectFrom('quota_limits')
    .select(['subject_kind', 'user_id', 'limit_name', 'value'])
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where((eb) => eb.or([eb('subject_kind', 'in', ['default', 'server']), eb.and([eb('subject_kind', '=', 'user'), eb('user_id', '=', userId)])]))
    .unionAll(versionRow(db, platform, workspaceId)),
);

/** subject_kind of the row that carries the workspace's limits version in a limit set read. */
const VERSION_ROW = '~version';

/** The workspace's limits version (migration 14) as one more row of a limit set read. */
function versionRow(db: Kysely<Database>, platform: string, workspaceId: string) {
  return db
    .selectFrom('quota_limit_versions')
    .select([sql.lit(VERSION_ROW).as('subject_kind'), sql.lit('').as('user_id'), sql.lit('').as('limit_name'), sql<number | null>`version`.as('value')])
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId);
}

const limitsVersion = prepare(2, (db, platform: string, workspaceId: string) =>
  db.selectFrom('quota_limit_versions').select('version').where('platform', '=', platform).where('workspace_id', '=', workspaceId),
);

/** Inserts a reservation; a dead row with the same id (expired, being reserved again by a top-up) is replaced. */
const upsertReservation = prepare(
  10,
  (db, id: string, platform: string, workspaceId: string, userId: string, channelId: string, tokens: number, usd: number, createdAt: number, expiresAt: number, owner: string | null) =>
    db
      .insertInto('reservations')
      .values({
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
      })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          tokens: eb.ref('excluded.tokens'),
          usd: eb.ref('excluded.usd'),
          created_at: eb.ref('excluded.created_at'),
          expires_at: eb.ref('excluded.expires_at'),
          owner: eb.ref('excluded.owner'),
        })),
      ),
);

const liveReservation = prepare(2, (db, id: string, now: number) =>
  db.selectFrom('reservations').select(['tokens', 'usd']).where('id', '=', id).where('expires_at', '>', now),
);

const raiseReservation = prepare(3, (db, tokens: number, usd: number, id: string) =>
  db.updateTable('reservations').set({ tokens, usd }).where('id', '=', id),
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
    webSearchRequests: 0,
    imagesOut: 0,
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
    .where('user_id', '=', subjectId(subject));
}

/** What sits in quota_limits.user_id for a subject. */
function subjectId(subject: QuotaSubject): string {
  return subject.kind === 'user' ? subject.userId : subject.kind === 'role' ? subject.roleId : '';
}

/** The quota check's read when the user has roles: their own rows, their roles' tiers, the defaults and the budget. */
function quotaLimitSetWithRoles(db: Kysely<Database>, platform: string, workspaceId: string, userId: string, roleIds: readonly string[]) {
  return db
    .selectFrom('quota_limits')
    .select(['subject_kind', 'user_id', 'limit_name', 'value'])
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where((eb) =>
      eb.or([
        eb('subject_kind', 'in', ['default', 'server']),
        eb.and([eb('subject_kind', '=', 'user'), eb('user_id', '=', userId)]),
        eb.and([eb('subject_kind', '=', 'role'), eb('user_id', 'in', roleIds)]),
      ]),
    )
    .unionAll(versionRow(db, platform, workspaceId));
}

function putLimit(values: QuotaLimitValues, row: { limit_name: string; value: number | string | null }): void {
  if (isQuotaLimitName(row.limit_name)) values[row.limit_name] = row.value === null ? null : Number(row.value);
}

function isQuotaLimitName(name: string): name is QuotaLimitName {
  return (QUOTA_LIMITS as readonly string[]).includes(name);
}
