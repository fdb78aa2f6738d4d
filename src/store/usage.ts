import type { Kysely } from 'kysely';
import { utcWindows, type UsageParts, type UsageWindows } from './quota.ts';
import type { Database } from './schema.ts';
import type { LedgerEntry, UsageTotals } from './types.ts';

/** user_id of the workspace-wide rows in usage_totals. */
const WHOLE_WORKSPACE = '';

/** Runs inside settle's transaction, only for a newly inserted, non-refused ledger row. */
export async function addToTotals(db: Kysely<Database>, entry: LedgerEntry): Promise<void> {
  const windows = utcWindows(entry.at);
  const base = { platform: entry.platform, workspace_id: entry.workspaceId, requests: 1 };
  const amounts = { tokens: entry.tokensIn + entry.tokensOut, usd: entry.costUsd };
  const rows: Database['usage_totals'][] = [];
  for (const user_id of [entry.userId, WHOLE_WORKSPACE]) {
    rows.push({ ...base, ...amounts, user_id, period: 'day', starts_at: windows.dayStart });
    rows.push({ ...base, ...amounts, user_id, period: 'month', starts_at: windows.monthStart });
  }
  await db
    .insertInto('usage_totals')
    .values(rows)
    .onConflict((oc) =>
      oc.columns(['platform', 'workspace_id', 'user_id', 'period', 'starts_at']).doUpdateSet((eb) => ({
        requests: eb('usage_totals.requests', '+', eb.ref('excluded.requests')),
        tokens: eb('usage_totals.tokens', '+', eb.ref('excluded.tokens')),
        usd: eb('usage_totals.usd', '+', eb.ref('excluded.usd')),
      })),
    )
    .execute();
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
  const settled = await db
    .selectFrom('usage_totals')
    .select(['period', 'requests', 'tokens', 'usd'])
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', userId ?? WHOLE_WORKSPACE)
    .where((eb) =>
      eb.or([
        eb.and([eb('period', '=', 'day'), eb('starts_at', '=', windows.dayStart)]),
        eb.and([eb('period', '=', 'month'), eb('starts_at', '=', windows.monthStart)]),
      ]),
    )
    .execute();
  const live = await db
    .selectFrom('reservations')
    .where('platform', '=', platform)
    .where('workspace_id', '=', workspaceId)
    .$if(userId !== undefined, (qb) => qb.where('user_id', '=', userId ?? ''))
    .where('expires_at', '>', now)
    .select((eb) => [
      eb.fn.countAll().as('requests'),
      eb.fn.coalesce(eb.fn.sum('tokens'), eb.lit(0)).as('tokens'),
      eb.fn.coalesce(eb.fn.sum('usd'), eb.lit(0)).as('usd'),
    ])
    .executeTakeFirstOrThrow();
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
