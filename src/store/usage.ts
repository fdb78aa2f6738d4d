import type { ExpressionBuilder, Kysely } from 'kysely';
import { prepare } from './prepared.ts';
import { utcWindows, type UsageParts, type UsageWindows } from './quota.ts';
import type { Database } from './schema.ts';
import type { LedgerEntry, UsageTotals } from './types.ts';

/** user_id of the workspace-wide rows in usage_totals. */
const WHOLE_WORKSPACE = '';

/** Day and month rows, for the user and for the whole workspace: one upsert of four rows. */
const addTotals = prepare(14, (db, platform: unknown, workspaceId: unknown, userId: unknown, dayStart: unknown, monthStart: unknown, requests: unknown, tokens: unknown, usd: unknown, ...wholeWorkspace: unknown[]) => {
  const [wUser, wDay, wMonth, wRequests, wTokens, wUsd] = wholeWorkspace;
  const row = (user_id: unknown, period: string, starts_at: unknown, r: unknown, t: unknown, u: unknown) =>
    ({ platform, workspace_id: workspaceId, requests: r, tokens: t, usd: u, user_id, period, starts_at }) as Database['usage_totals'];
  return db
    .insertInto('usage_totals')
    .values([
      row(userId, 'day', dayStart, requests, tokens, usd),
      row(userId, 'month', monthStart, requests, tokens, usd),
      row(wUser, 'day', wDay, wRequests, wTokens, wUsd),
      row(wUser, 'month', wMonth, wRequests, wTokens, wUsd),
    ])
    .onConflict((oc) =>
      oc.columns(['platform', 'workspace_id', 'user_id', 'period', 'starts_at']).doUpdateSet((eb) => ({
        requests: eb('usage_totals.requests', '+', eb.ref('excluded.requests')),
        tokens: eb('usage_totals.tokens', '+', eb.ref('excluded.tokens')),
        usd: eb('usage_totals.usd', '+', eb.ref('excluded.usd')),
      })),
    );
});

/**
 * Runs inside settle's transaction, for a newly inserted, non-refused ledger
 * row (one request), or with `requests` 0 for a row whose usage was replaced.
 */
export async function addToTotals(db: Kysely<Database>, entry: LedgerEntry, requests = 1): Promise<void> {
  const windows = utcWindows(entry.at);
  const tokens = entry.tokensIn + entry.tokensOut;
  await addTotals.run(
    db,
    entry.platform,
    entry.workspaceId,
    entry.userId,
    windows.dayStart,
    windows.monthStart,
    requests,
    tokens,
    entry.costUsd,
    WHOLE_WORKSPACE,
    windows.dayStart,
    windows.monthStart,
    requests,
    tokens,
    entry.costUsd,
  );
}

const settledUsage = prepare(5, (db, platform: string, workspaceId: string, userId: string, dayStart: number, monthStart: number) =>
  db
    .selectFrom('usage_totals')
    .select(['period', 'requests', 'tokens', 'usd'])
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', userId)
    .where((eb) =>
      eb.or([
        eb.and([eb('period', '=', 'day'), eb('starts_at', '=', dayStart)]),
        eb.and([eb('period', '=', 'month'), eb('starts_at', '=', monthStart)]),
      ]),
    ),
);

const liveSums = (eb: ExpressionBuilder<Database, 'reservations'>) => [
  eb.fn.countAll().as('requests'),
  eb.fn.coalesce(eb.fn.sum('tokens'), eb.lit(0)).as('tokens'),
  eb.fn.coalesce(eb.fn.sum('usd'), eb.lit(0)).as('usd'),
];

const liveOfUser = prepare(4, (db, platform: string, workspaceId: string, userId: string, now: number) =>
  db
    .selectFrom('reservations')
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', userId)
    .where('expires_at', '>', now)
    .select(liveSums),
);

const liveOfWorkspace = prepare(3, (db, platform: string, workspaceId: string, now: number) =>
  db.selectFrom('reservations').where('platform', '=', platform).where('workspace_id', '=', workspaceId).where('expires_at', '>', now).select(liveSums),
);

interface TotalsRow {
  period: string;
  requests: unknown;
  tokens: unknown;
  usd: unknown;
}

/**
 * Settled usage (refused rows excluded) in the UTC day and month, and live
 * reservations, for one user or (userId undefined) the whole workspace. Both
 * reads are index lookups whatever the size of the ledger.
 */
export async function readUsage(
  db: Kysely<Database>,
  platform: string,
  workspaceId: string,
  userId: string | undefined,
  windows: UsageWindows,
  now: number,
): Promise<UsageParts> {
  const settled = (await settledUsage.run<TotalsRow>(db, platform, workspaceId, userId ?? WHOLE_WORKSPACE, windows.dayStart, windows.monthStart)).rows;
  const liveRows =
    userId === undefined
      ? await liveOfWorkspace.run<Omit<TotalsRow, 'period'>>(db, platform, workspaceId, now)
      : await liveOfUser.run<Omit<TotalsRow, 'period'>>(db, platform, workspaceId, userId, now);
  const live = liveRows.rows[0] ?? { requests: 0, tokens: 0, usd: 0 };
  const zero = { requests: 0, tokens: 0, usd: 0 };
  const day = settled.find((r) => r.period === 'day');
  const month = settled.find((r) => r.period === 'month');
  return {
    day: day === undefined ? zero : totals(day.requests, day.tokens, day.usd),
    month: month === undefined ? zero : totals(month.requests, month.tokens, month.usd),
    live: totals(live.requests, live.tokens, live.usd),
  };
}

function totals(requests: unknown, tokens: unknown, usd: unknown): UsageTotals {
  return { requests: Number(requests), tokens: Number(tokens), usd: Number(usd) };
}

export function addUsage(a: UsageTotals, b: UsageTotals): UsageTotals {
  return { requests: a.requests + b.requests, tokens: a.tokens + b.tokens, usd: a.usd + b.usd };
}
