/**
 * The numbers behind a usage dashboard (Slack's App Home): one person's usage
 * today and this month against their limits and their last answers; for
 * admins also the workspace's month against its budget, the top users and
 * models, the channels with settings of their own, and spend per UTC day and
 * model for the last 30 days. Platform-neutral data: the adapter draws it.
 */
import type { LedgerEntry, LedgerTotalsRow, UsageSnapshot, DailySpendRow } from '../store/types.ts';
import type { Core } from './core.ts';
import type { LimitView } from './quota.ts';

const DAY_MS = 86_400_000;
/** Days in the spend chart. */
export const CHART_DAYS = 30;
const LAST_ANSWERS = 5;
const TOP_N = 5;
/** Ledger rows looked at for the last answers (refusals are skipped). */
const LAST_LOOKBACK = 25;

export interface PersonalDashboard {
  usage: UsageSnapshot;
  limits: LimitView[];
  lastAnswers: LedgerEntry[];
}

export interface WorkspaceDashboard {
  /** This UTC month's spend, across the workspace. */
  monthUsd: number;
  monthRequests: number;
  budgetUsd: number | null;
  topUsers: LedgerTotalsRow[];
  topModels: LedgerTotalsRow[];
  channelsWithSettings: Array<{ channelId: string; keys: string[] }>;
  /** The chart's days, oldest first (UTC midnights), and spend per day and model. */
  days: Date[];
  dailySpend: DailySpendRow[];
}

export interface Dashboard {
  personal: PersonalDashboard;
  /** Admins only. */
  workspace?: WorkspaceDashboard;
  at: Date;
}

export interface DashboardRequest {
  platform: string;
  workspaceId: string;
  userId: string;
  isAdmin: boolean;
}

export async function buildDashboard(core: Core, request: DashboardRequest): Promise<Dashboard> {
  const now = new Date(core.clock.now());
  const user = { platform: request.platform, workspaceId: request.workspaceId, userId: request.userId };
  const [usage, limits, recent, workspace] = await Promise.all([
    core.store.usage(user.platform, user.workspaceId, user.userId, now),
    core.quota.limitsFor(user),
    core.store.ledger({ ...user, newestFirst: true, limit: LAST_LOOKBACK }),
    request.isAdmin ? workspaceDashboard(core, request, now) : Promise.resolve(undefined),
  ]);
  const lastAnswers = recent.filter((row) => row.outcome !== 'refused').slice(0, LAST_ANSWERS);
  return { personal: { usage, limits, lastAnswers }, ...(workspace ? { workspace } : {}), at: now };
}

async function workspaceDashboard(core: Core, request: DashboardRequest, now: Date): Promise<WorkspaceDashboard> {
  const { platform, workspaceId } = request;
  const monthFrom = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const monthTo = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const days = Array.from({ length: CHART_DAYS }, (_, i) => new Date(today - (CHART_DAYS - 1 - i) * DAY_MS));
  const month = { platform, workspaceId, from: monthFrom, to: monthTo };
  const [[all], topUsers, topModels, budget, channelsWithSettings, dailySpend] = await Promise.all([
    core.store.ledgerTotals({ ...month, groupBy: ['workspaceId'] }),
    core.store.ledgerTotals({ ...month, groupBy: ['userId'], limit: TOP_N }),
    core.store.ledgerTotals({ ...month, groupBy: ['model'], limit: TOP_N }),
    core.quota.serverBudget(platform, workspaceId),
    core.store.channelsWithSettings(platform, workspaceId),
    core.store.dailySpend({ platform, workspaceId, from: days[0]!, to: new Date(today + DAY_MS) }),
  ]);
  return {
    monthUsd: all?.costUsd ?? 0,
    monthRequests: all?.requests ?? 0,
    budgetUsd: budget.value,
    topUsers,
    topModels,
    channelsWithSettings,
    days,
    dailySpend,
  };
}
