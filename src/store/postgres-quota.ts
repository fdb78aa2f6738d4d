/**
 * The quota path on PostgreSQL in one round trip: reserves, top-ups and
 * settles are plpgsql functions (migrations 10 and 14) that take the
 * workspaces' advisory locks, read, check and write inside one statement,
 * instead of a transaction of six round trips holding the lock throughout.
 * Calls that arrive while a statement is in flight go together in the next
 * one (see Lanes), whatever their workspace, so a busy bot pays one round
 * trip per batch, not per reservation. A reserve carries the limits version
 * its limits were computed from, so QuotaService may cache limits and the
 * limits read is no round trip either. Reservations commit without waiting
 * for the WAL flush (see switchboard_quota); settles stay fully durable.
 *
 * The checks are those of checkUserLimits and checkServerLimit (quota.ts), in
 * the same order, with the same double-precision sums and the same nano-dollar
 * slack; the store contract suite runs both paths against the same cases.
 * SQLite keeps its transaction (one file lock, in-process: no round trips).
 */
import { CompiledQuery, type Kysely } from 'kysely';
import { toLedgerRow } from './ledger-rows.ts';
import { USD_SLACK, utcWindows, type Refusal } from './quota.ts';
import type { Database } from './schema.ts';
import type { LedgerEntry, LimitName, ReserveRequest, ReserveResult } from './types.ts';

/** Raise a workspace's limits version on every change to its quota_limits (migration 14; an update raises the old and the new). */
export const QUOTA_LIMIT_VERSION_TRIGGERS = {
  postgres: [
    `create or replace function switchboard_bump_quota_limit_version() returns trigger
    language plpgsql as $fn$
    begin
      if tg_op <> 'INSERT' then
        insert into quota_limit_versions (platform, workspace_id, version) values (old.platform, old.workspace_id, 1)
          on conflict (platform, workspace_id) do update set version = quota_limit_versions.version + 1;
      end if;
      if tg_op <> 'DELETE' then
        insert into quota_limit_versions (platform, workspace_id, version) values (new.platform, new.workspace_id, 1)
          on conflict (platform, workspace_id) do update set version = quota_limit_versions.version + 1;
      end if;
      return null;
    end
    $fn$`,
    'drop trigger if exists quota_limits_version on quota_limits',
    `create trigger quota_limits_version after insert or update or delete on quota_limits
      for each row execute function switchboard_bump_quota_limit_version()`,
  ],
  sqlite: (['insert', 'update', 'delete'] as const).map(
    (event) => `create trigger if not exists quota_limits_version_${event} after ${event} on quota_limits begin
      ${(event === 'insert' ? ['new'] : event === 'delete' ? ['old'] : ['old', 'new'])
        .map(
          (row) => `insert into quota_limit_versions (platform, workspace_id, version) values (${row}.platform, ${row}.workspace_id, 1)
        on conflict (platform, workspace_id) do update set version = version + 1;`,
        )
        .join('\n      ')}
    end`,
  ),
};

/**
 * Migration 14: one statement carries the reserves, top-ups and settles of
 * many workspaces (see Lanes), taking their locks in one order so two such
 * statements never deadlock. A reserve's checks are migration 10's
 * switchboard_reserve_one, after the limits version check; a settle is
 * migration 10's, one entry at a time. CREATE OR REPLACE, resolved through
 * the caller's search_path like migration 10's.
 */
export const POSTGRES_QUOTA_BATCH_FUNCTIONS = [
  // One settle: 'settled', or 'conflict' when the ledger already has the row
  // and it may be a sweeper's to replace (the caller takes that rare path in a transaction).
  `create or replace function switchboard_settle_one(e json) returns text
  language plpgsql volatile as $fn$
  declare
    entry usage_ledger;
    inserted integer;
    day_start bigint := (e->>'dayStart')::bigint;
    month_start bigint := (e->>'monthStart')::bigint;
  begin
    entry := json_populate_record(null::usage_ledger, e->'row');
    if e->>'reservationId' is not null then delete from reservations where id = e->>'reservationId'; end if;
    -- With the ledger row, so a crash cannot leave a settled answer to be marked interrupted.
    delete from active_answers where request_id = entry.request_id;
    insert into usage_ledger select (entry).* on conflict (request_id) do nothing;
    get diagnostics inserted = row_count;
    if inserted = 0 then
      return case when entry.error_kind = 'process-died' or entry.outcome = 'refused' then 'settled' else 'conflict' end;
    end if;
    if entry.outcome <> 'refused' then
      insert into usage_totals (platform, workspace_id, user_id, period, starts_at, requests, tokens, usd) values
        (entry.platform, entry.workspace_id, entry.user_id, 'day', day_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd),
        (entry.platform, entry.workspace_id, entry.user_id, 'month', month_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd),
        (entry.platform, entry.workspace_id, '', 'day', day_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd),
        (entry.platform, entry.workspace_id, '', 'month', month_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd)
        on conflict (platform, workspace_id, user_id, period, starts_at) do update set
          requests = usage_totals.requests + excluded.requests,
          tokens = usage_totals.tokens + excluded.tokens,
          usd = usage_totals.usd + excluded.usd;
    end if;
    return 'settled';
  end
  $fn$`,
  // p_keys: the lock keys of the workspaces in p_ops. Each op is ["r", reserve
  // arguments + limits version] or ["s", settle entry]; one result per op, in order.
  `create or replace function switchboard_quota(p_keys text[], p_ops json) returns json
  language plpgsql volatile as $fn$
  declare
    k integer;
    op json;
    r json;
    o record;
    current_version bigint;
    results json[] := '{}';
  begin
    -- Reservations are promises about the next minutes, not records: a
    -- statement of reserves alone commits without waiting for the WAL flush
    -- (a database crash can lose its last fraction of a second). A statement
    -- with a settle waits: every settled ledger row is durable.
    if not exists (select 1 from json_array_elements(p_ops) x where x.value->>0 = 's') then
      perform set_config('synchronous_commit', 'off', true);
    end if;
    for k in select distinct hashtext(key) from unnest(p_keys) key order by 1 loop
      perform pg_advisory_xact_lock(k);
    end loop;
    for op in select value from json_array_elements(p_ops) loop
      if op->>0 = 's' then
        results := results || to_json(switchboard_settle_one(op->1));
        continue;
      end if;
      r := op->1;
      if r->>20 is not null then
        select v.version into current_version from quota_limit_versions v where v.platform = r->>1 and v.workspace_id = r->>2;
        if coalesce(current_version, 0) <> (r->>20)::bigint then
          results := results || json_build_array('stale', null, null);
          continue;
        end if;
      end if;
      select * into o from switchboard_reserve_one(
        r->>0, r->>1, r->>2, r->>3, r->>4, (r->>5)::bigint, (r->>6)::double precision, (r->>7)::bigint, (r->>8)::bigint,
        r->>9, (r->>10)::bigint, (r->>11)::bigint, (r->>12)::boolean, (r->>13)::double precision, (r->>14)::double precision,
        (r->>15)::double precision, (r->>16)::double precision, (r->>17)::double precision, (r->>18)::double precision,
        (r->>19)::double precision);
      results := results || json_build_array(o.refused_limit, o.used_amount, o.limit_max);
    end loop;
    return array_to_json(results);
  end
  $fn$`,
];

const QUOTA_SQL = 'select switchboard_quota($1, $2) as results';

/** Most operations one statement carries. */
const MAX_BATCH = 200;
/**
 * Statements in flight at once, each on its own connection: a workspace
 * always goes through the same lane (its operations stay in order), and
 * lanes run side by side while they touch different workspaces.
 */
export const QUOTA_LANES = 4;

type Op = { kind: 'reserve'; request: ReserveRequest; topUp: boolean } | { kind: 'settle'; reservationId: string | null; entry: LedgerEntry };
type OpResult = ReserveResult | boolean;

interface Waiting {
  lockKey: string;
  op: Op;
  resolve: (result: OpResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Natural batching over a few lanes: an operation goes out at once when its
 * lane has no statement in flight; those that arrive meanwhile (of any
 * workspace of that lane) go together in the next statement. An idle lane
 * pays no delay; a busy one pays one round trip and one lock hand-over per
 * batch instead of per reservation. A failed batch is retried one operation
 * at a time, so one bad request fails alone.
 */
class Lanes {
  readonly #lanes = Array.from({ length: QUOTA_LANES }, () => ({ busy: false, waiting: [] as Waiting[] }));

  constructor(private readonly send: (keys: string[], ops: Op[]) => Promise<unknown[]>) {}

  submit(lockKey: string, op: Op): Promise<OpResult> {
    const lane = this.#lanes[laneOf(lockKey)]!;
    const result = new Promise<OpResult>((resolve, reject) => lane.waiting.push({ lockKey, op, resolve, reject }));
    if (!lane.busy) void this.#drain(lane);
    return result;
  }

  async #drain(lane: { busy: boolean; waiting: Waiting[] }): Promise<void> {
    lane.busy = true;
    while (lane.waiting.length > 0) {
      const batch = lane.waiting.splice(0, MAX_BATCH);
      try {
        const results = await this.send([...new Set(batch.map((w) => w.lockKey))], batch.map((w) => w.op));
        batch.forEach((w, i) => settleWaiting(w, results[i]));
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error);
        else {
          for (const w of batch) {
            try {
              settleWaiting(w, (await this.send([w.lockKey], [w.op]))[0]);
            } catch (single) {
              w.reject(single);
            }
          }
        }
      }
    }
    lane.busy = false;
  }
}

function settleWaiting(w: Waiting, raw: unknown): void {
  if (raw === undefined) {
    w.reject(new Error('the quota statement returned fewer results than it was given'));
    return;
  }
  if (w.op.kind === 'settle') w.resolve(raw === 'settled');
  else w.resolve(toResult(w.op.request, raw as [LimitName | 'stale' | null, number | null, number | null]));
}

/** FNV-1a over the key: the same workspace, the same lane, in every process. */
function laneOf(lockKey: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < lockKey.length; i++) hash = Math.imul(hash ^ lockKey.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % QUOTA_LANES;
}

/** reserve, topUp and the common settle, one statement each (many to a statement under load). */
export function createPostgresQuota(run: <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>) {
  const lanes = new Lanes(async (keys, ops) => {
    const payload = ops.map((op) => {
      if (op.kind === 'reserve') return ['r', reserveArgs(op.request, op.topUp)];
      const windows = utcWindows(op.entry.at);
      return ['s', { reservationId: op.reservationId, row: toLedgerRow(op.entry), dayStart: windows.dayStart, monthStart: windows.monthStart }];
    });
    const { rows } = await run((db) => db.executeQuery<{ results: unknown[] }>(CompiledQuery.raw(QUOTA_SQL, [keys, JSON.stringify(payload)])));
    return rows[0]?.results ?? [];
  });
  return {
    reserve: (lockKey: string, request: ReserveRequest, topUp: boolean) => lanes.submit(lockKey, { kind: 'reserve', request, topUp }) as Promise<ReserveResult>,
    /** false when the row exists and the caller must take the rare path. */
    settle: (lockKey: string, reservationId: string | null, entry: LedgerEntry) => lanes.submit(lockKey, { kind: 'settle', reservationId, entry }) as Promise<boolean>,
  };
}

/** switchboard_reserve_one's arguments, in order. */
function reserveArgs(request: ReserveRequest, topUp: boolean): unknown[] {
  const { user, limits, estimate } = request;
  const now = request.now.getTime();
  const windows = utcWindows(request.now);
  return [
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
    windows.dayStart,
    windows.monthStart,
    topUp,
    limits.maxConcurrent ?? null,
    limits.requestsPerDay ?? null,
    limits.tokensPerDay ?? null,
    limits.usdPerDay ?? null,
    limits.usdPerMonth ?? null,
    limits.serverUsdPerMonth ?? null,
    USD_SLACK,
    // switchboard_quota checks it before switchboard_reserve_one; top-ups keep their reserve's limits.
    topUp ? null : (request.limitsVersion ?? null),
  ];
}

function toResult(request: ReserveRequest, row: [LimitName | 'stale' | null, number | null, number | null]): ReserveResult {
  const [limit, used, max] = row;
  if (limit === null) return { ok: true };
  if (limit === 'stale') return { ok: false, stale: true };
  const refusal: Refusal = { ok: false, limit, used: Number(used), max: Number(max) };
  if (limit === 'concurrent-requests') return refusal;
  const windows = utcWindows(request.now);
  return { ...refusal, resetsAt: new Date(limit === 'usd-per-month' || limit === 'server-usd-per-month' ? windows.monthEnd : windows.dayEnd) };
}
