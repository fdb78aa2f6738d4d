/**
 * The monthly budget alert: when a workspace's settled spend passes
 * BUDGET_ALERT_SHARE of its server usd-per-month budget, one message goes to
 * the platform's BUDGET_ALERT_CHANNEL. Once per workspace and UTC month across
 * every process: the store's meta remembers it, and a short event claim makes
 * sure only one process posts.
 */
import { BoundedMap } from '../util/bounded-map.ts';
import type { Core } from '../core/core.ts';
import { formatUsd } from '../core/quota.ts';
import type { ChatAdapter } from '../core/types.ts';

/** If posting fails, another answer may retry after this long. */
const POST_CLAIM_TTL_MS = 5 * 60 * 1000;

export interface BudgetWatch {
  /** Resolves when every check started so far has finished (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

/** Workspace-months remembered as alerted or warned about; forgetting one only costs a store look-up. */
const MEMO_CAPACITY = 10_000;

class BoundedSet {
  readonly #map: BoundedMap<true>;
  constructor(capacity: number) {
    this.#map = new BoundedMap<true>(capacity);
  }
  has(key: string): boolean {
    return this.#map.get(key) === true;
  }
  add(key: string): void {
    this.#map.set(key, true);
  }
}

export function watchBudget(core: Core, adapters: readonly ChatAdapter[]): BudgetWatch {
  const { share, channels } = core.config.budgetAlert;
  const logger = core.logger.child({ component: 'budget-alert' });
  /** Workspace-months already alerted (saves the store a look-up per answer); bounded like every cache. */
  const alerted = new BoundedSet(MEMO_CAPACITY);
  const warned = new BoundedSet(MEMO_CAPACITY);
  const chains = new Map<string, Promise<void>>();

  const check = async (platform: string, workspaceId: string) => {
    const now = new Date(core.clock.now());
    const month = now.toISOString().slice(0, 7);
    const metaKey = `budget-alert:${platform}:${workspaceId}:${month}`;
    if (alerted.has(metaKey)) return;
    const budget = (await core.quota.serverBudget(platform, workspaceId)).value;
    if (budget === null || budget <= 0) return;
    const usage = await core.store.usage(platform, workspaceId, undefined, now);
    const spent = usage.month.usd - usage.reserved.usd;
    if (spent < share * budget) return;
    if ((await core.store.getMeta(metaKey)) !== undefined) {
      alerted.add(metaKey);
      return;
    }
    const channelId = channels[platform];
    const adapter = adapters.find((a) => a.platform === platform);
    if (channelId === undefined || adapter?.postToChannel === undefined) {
      if (!warned.has(metaKey)) {
        warned.add(metaKey);
        logger.warn(
          { platform, workspaceId, spentUsd: spent, budgetUsd: budget },
          channelId === undefined
            ? 'budget alert due but BUDGET_ALERT_CHANNEL names no channel for this platform'
            : 'budget alert due but this platform cannot post to a channel',
        );
      }
      return;
    }
    if (!(await core.store.claimEvent(`${metaKey}:posting`, now, POST_CLAIM_TTL_MS))) return;
    await adapter.postToChannel(channelId, budgetAlertText({ platform, workspaceId, month, spent, budget, share }));
    await core.store.setMeta(metaKey, JSON.stringify({ at: now.toISOString(), channelId, spentUsd: spent, budgetUsd: budget }));
    alerted.add(metaKey);
    logger.info({ platform, workspaceId, channelId, spentUsd: spent, budgetUsd: budget }, 'budget alert posted');
  };

  const off = core.events.on('answer-finished', (e) => {
    if (e.costUsd <= 0) return;
    const key = `${e.platform}\n${e.workspaceId}`;
    // One check at a time per workspace, in order.
    const next = (chains.get(key) ?? Promise.resolve())
      .then(() => check(e.platform, e.workspaceId))
      .catch((error: unknown) => logger.warn({ err: error, platform: e.platform, workspaceId: e.workspaceId }, 'budget alert check failed'));
    chains.set(key, next);
    void next.finally(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  });

  return {
    async idle() {
      while (chains.size > 0) await Promise.all([...chains.values()]);
    },
    close: off,
  };
}

export function budgetAlertText(input: { platform: string; workspaceId: string; month: string; spent: number; budget: number; share: number }): string {
  const percent = Math.floor((input.spent / input.budget) * 100);
  return [
    `**Budget alert** (${input.platform} workspace ${input.workspaceId}): ${formatUsd(input.spent)} of the ${formatUsd(input.budget)} monthly budget is spent in ${input.month} (${percent}%; the alert is set at ${Math.round(input.share * 100)}%).`,
    'Admins: `/usage top` shows who and which models are spending; `/quota set server usd-per-month <amount>` changes the budget. Requests are refused once the budget is used up.',
  ].join('\n');
}
