/**
 * The key-credit alert: when the OpenRouter key's remaining credit (GET /key,
 * read through the core's one-minute cache) falls below KEY_CREDIT_ALERT_USD,
 * one message goes to every BUDGET_ALERT_CHANNEL. Once per key and UTC month
 * across every process, like the budget alert: the store's meta remembers it
 * and a short event claim lets only one process post.
 */
import { createHash } from 'node:crypto';
import type { Core } from '../core/core.ts';
import { formatUsd } from '../core/quota.ts';
import type { ChatAdapter } from '../core/types.ts';
import type { BudgetWatch } from './budget-alert.ts';

/** If posting fails, another answer may retry after this long. */
const POST_CLAIM_TTL_MS = 5 * 60 * 1000;

export function watchKeyCredit(core: Core, adapters: readonly ChatAdapter[]): BudgetWatch {
  const threshold = core.config.budgetAlert.keyCreditUsd;
  const logger = core.logger.child({ component: 'key-credit-alert' });
  // The key is named by a hash of it: never the key itself, in the store or the log.
  const keyId = createHash('sha256').update(core.config.openrouter.apiKey).digest('hex').slice(0, 16);
  let alertedMonth: string | undefined;
  let chain: Promise<void> | undefined;

  const check = async () => {
    const keyState = core.keyState;
    if (threshold === null || keyState === undefined) return;
    const now = new Date(core.clock.now());
    const month = now.toISOString().slice(0, 7);
    if (alertedMonth === month) return;
    const key = await keyState.get();
    if (key.remainingUsd === null || key.remainingUsd >= threshold) return;
    const metaKey = `key-credit-alert:${keyId}:${month}`;
    if ((await core.store.getMeta(metaKey)) !== undefined) {
      alertedMonth = month;
      return;
    }
    const targets = adapters.flatMap((a) => {
      const channelId = core.config.budgetAlert.channels[a.platform];
      return channelId !== undefined && a.postToChannel ? [{ adapter: a, channelId }] : [];
    });
    if (!(await core.store.claimEvent(`${metaKey}:posting`, now, POST_CLAIM_TTL_MS))) return;
    const text = keyCreditAlertText(key.remainingUsd, threshold, key.limitUsd);
    for (const { adapter, channelId } of targets) await adapter.postToChannel!(channelId, text);
    if (targets.length === 0) logger.warn({ remainingUsd: key.remainingUsd, thresholdUsd: threshold }, 'key credit alert due but BUDGET_ALERT_CHANNEL names no channel');
    await core.store.setMeta(metaKey, JSON.stringify({ at: now.toISOString(), remainingUsd: key.remainingUsd, thresholdUsd: threshold }));
    alertedMonth = month;
    logger.info({ remainingUsd: key.remainingUsd, thresholdUsd: threshold, channels: targets.length }, 'key credit alert posted');
  };

  const off = core.events.on('answer-finished', (e) => {
    if (threshold === null || e.costUsd <= 0) return;
    // One check at a time, in order; the key state is cached, so most checks cost nothing.
    const next = (chain ?? Promise.resolve()).then(check).catch((error: unknown) => logger.warn({ err: error }, 'key credit alert check failed'));
    chain = next;
    void next.finally(() => {
      if (chain === next) chain = undefined;
    });
  });

  return {
    async idle() {
      while (chain) await chain;
    },
    close: off,
  };
}

export function keyCreditAlertText(remaining: number, threshold: number, limit: number | null): string {
  const of = limit === null ? '' : ` of its ${formatUsd(limit)} limit`;
  return [
    `**OpenRouter credit alert:** the key has ${formatUsd(remaining)} left${of}, below the ${formatUsd(threshold)} set in KEY_CREDIT_ALERT_USD.`,
    'Admins: add credit or raise the key limit on openrouter.ai; `/quota show server` shows the key. Answers fail once the credit is used up.',
  ].join('\n');
}
