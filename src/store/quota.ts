import type { EffectiveLimits, QuotaRefusal, UsageTotals } from './types.ts';

/** UTC windows as epoch milliseconds; each start is inclusive, each end exclusive. */
export interface UsageWindows {
  dayStart: number;
  dayEnd: number;
  monthStart: number;
  monthEnd: number;
}

export function utcWindows(now: Date): UsageWindows {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  return {
    dayStart: Date.UTC(y, m, d),
    dayEnd: Date.UTC(y, m, d + 1),
    monthStart: Date.UTC(y, m, 1),
    monthEnd: Date.UTC(y, m + 1, 1),
  };
}

/** Settled ledger usage (refused rows excluded) and live reservations, kept apart. */
export interface UsageParts {
  day: UsageTotals;
  month: UsageTotals;
  live: UsageTotals;
}

export type Refusal = QuotaRefusal;

/** Sums of doubles drift (0.1 + 0.2 > 0.3); a nano-dollar of slack keeps "exactly at the limit" allowed. */
export const USD_SLACK = 1e-9;

/**
 * The user's limits, in the documented order; the first broken one wins. Live
 * reservations count in both windows whenever they were made: they are usage
 * about to be settled now.
 */
export function checkUserLimits(
  usage: UsageParts,
  limits: EffectiveLimits,
  estimate: { tokens: number; usd: number },
  windows: UsageWindows,
  /** A top-up of a live reservation: not a new request, so the request and concurrency counts are not checked. */
  raise = false,
): Refusal | undefined {
  const { day, month, live } = usage;
  const dayResets = new Date(windows.dayEnd);
  const monthResets = new Date(windows.monthEnd);

  if (!raise && isSet(limits.maxConcurrent) && live.requests + 1 > limits.maxConcurrent) {
    return { ok: false, limit: 'concurrent-requests', used: live.requests, max: limits.maxConcurrent };
  }
  const checks: [Refusal['limit'], number | null | undefined, number, number, Date, number][] = [
    ['requests-per-day', raise ? undefined : limits.requestsPerDay, day.requests + live.requests, 1, dayResets, 0],
    ['tokens-per-day', limits.tokensPerDay, day.tokens + live.tokens, estimate.tokens, dayResets, 0],
    ['usd-per-day', limits.usdPerDay, day.usd + live.usd, estimate.usd, dayResets, USD_SLACK],
    ['usd-per-month', limits.usdPerMonth, month.usd + live.usd, estimate.usd, monthResets, USD_SLACK],
  ];
  for (const [limit, max, used, adding, resetsAt, slack] of checks) {
    if (isSet(max) && used + adding > max + slack) return { ok: false, limit, used, max, resetsAt };
  }
  return undefined;
}

/** The workspace's monthly budget across all its users (settled plus live). */
export function checkServerLimit(
  workspaceMonthUsd: number,
  limits: EffectiveLimits,
  estimateUsd: number,
  windows: UsageWindows,
): Refusal | undefined {
  const max = limits.serverUsdPerMonth;
  if (isSet(max) && workspaceMonthUsd + estimateUsd > max + USD_SLACK) {
    return {
      ok: false,
      limit: 'server-usd-per-month',
      used: workspaceMonthUsd,
      max,
      resetsAt: new Date(windows.monthEnd),
    };
  }
  return undefined;
}

function isSet(value: number | null | undefined): value is number {
  return value !== null && value !== undefined;
}
