import { z } from 'zod';
import { defineCommand, type CommandContext } from '../src/core/commands.ts';
import { UserFacingError } from '../src/core/errors.ts';
import { formatTokens } from '../src/core/answer-view.ts';
import type { GenerationInfo } from '../src/core/openrouter-key.ts';
import { formatAmount, formatDuration, formatUsd } from '../src/core/quota.ts';
import { parseUserRef, resolveUser } from '../src/core/users.ts';
import type { LedgerGroupKey, LedgerTotalsRow, QuotaLimitName, SatisfactionRow, UsageTotals } from '../src/core/store-types.ts';

const USED: Record<QuotaLimitName, (t: { day: UsageTotals; month: UsageTotals }) => number> = {
  'requests-per-day': (t) => t.day.requests,
  'tokens-per-day': (t) => t.day.tokens,
  'usd-per-day': (t) => t.day.usd,
  'usd-per-month': (t) => t.month.usd,
};

const LABEL: Record<QuotaLimitName, string> = {
  'requests-per-day': 'Requests today',
  'tokens-per-day': 'Tokens today',
  'usd-per-day': 'Spent today',
  'usd-per-month': 'Spent this month',
};

const PERIODS = ['day', 'month'] as const;
type Period = (typeof PERIODS)[number];
/** Rows per section of /usage top. */
const TOP_N = 5;

const options = z.object({
  user: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe('Whose usage (admins, for others); "last": your last answer per OpenRouter; "top" (admins)'),
  period: z.enum(PERIODS).optional().describe('With "top": this UTC day or month (default month)'),
});

/** `top` and `last` are words, not users, unless written as a mention. */
const isWord = (user: string | undefined, word: string) => user !== undefined && user.trim().toLowerCase() === word;
const isTop = (user: string | undefined) => isWord(user, 'top');
/** Ledger rows looked at for the last answer with a generation id (refusals have none). */
const LAST_LOOKBACK = 20;

export default defineCommand({
  name: 'usage',
  description: 'Your usage and quota, your last answer (`last`); admins: anyone’s, or `top`',
  options,
  async execute(ctx) {
    const { options, invocation, core, isAdmin, reply } = ctx;
    if (isTop(options.user)) {
      await showTop(ctx, options.period ?? 'month');
      return;
    }
    if (isWord(options.user, 'last')) {
      await reply(await lastAnswer(ctx), { ephemeral: true });
      return;
    }
    if (options.period !== undefined) {
      throw new UserFacingError('bad-input', '`period` goes with `top`: `/usage top day` or `/usage top month`.');
    }
    const target = options.user ? await resolveUser(invocation, options.user) : invocation.user;
    if (target.id !== invocation.user.id && !(await isAdmin())) {
      throw new UserFacingError('not-admin', "Only admins can see other people's usage.");
    }
    const now = new Date(core.clock.now());
    const user = { platform: invocation.platform, workspaceId: invocation.workspaceId, userId: target.id };
    const [snapshot, limits] = await Promise.all([
      core.store.usage(user.platform, user.workspaceId, user.userId, now),
      core.quota.limitsFor(user),
    ]);
    const whose = target.id === invocation.user.id ? 'Your usage' : `Usage of ${target.name}`;
    const lines = [`**${whose}** (UTC day and month)`];
    for (const view of limits) {
      const used = USED[view.limit](snapshot);
      const usedText = formatAmount(view.limit, used);
      lines.push(
        view.value === null
          ? `${LABEL[view.limit]}: ${usedText} (no limit)`
          : `${LABEL[view.limit]}: ${usedText} of ${formatAmount(view.limit, view.value)} (${formatAmount(view.limit, Math.max(0, view.value - used))} left)`,
      );
    }
    if (snapshot.reserved.requests > 0) lines.push(`Running now: ${snapshot.reserved.requests}`);
    lines.push(
      `Day resets in ${formatDuration(snapshot.dayResetsAt.getTime() - now.getTime())}; month resets ${snapshot.monthResetsAt.toISOString().slice(0, 10)}.`,
    );
    await reply(lines.join('\n'), { ephemeral: true });
  },
});

/** /usage last: the asker's last answer as OpenRouter recorded it (GET /generation). */
async function lastAnswer(ctx: CommandContext<unknown>): Promise<string> {
  const { invocation, core } = ctx;
  const rows = await core.store.ledger({
    platform: invocation.platform,
    workspaceId: invocation.workspaceId,
    userId: invocation.user.id,
    newestFirst: true,
    limit: LAST_LOOKBACK,
  });
  const last = rows.find((row) => row.generationId !== null);
  if (!last?.generationId) return 'You have no answer on record yet that OpenRouter could tell about.';
  if (!core.account) return 'OpenRouter cannot be asked from this process.';
  let info: GenerationInfo | undefined;
  try {
    info = await core.account.generation(last.generationId);
  } catch (error) {
    core.logger.warn({ err: error, generationId: last.generationId }, 'could not read a generation from OpenRouter');
    return 'OpenRouter did not answer; try again shortly.';
  }
  const when = last.at.toISOString().slice(0, 16).replace('T', ' ');
  if (!info) return `OpenRouter does not know your last answer (\`${last.generationId}\`, ${when} UTC) yet; it may take a minute to appear.`;
  return generationLines(info, last.modelAnswered ?? last.modelRequested, when).join('\n');
}

function generationLines(info: GenerationInfo, model: string, when: string): string[] {
  const tokens = (n: number | null) => (n === null ? '?' : formatTokens(n));
  return [
    `**Your last answer** (${when} UTC, \`${info.id}\`), as OpenRouter recorded it`,
    `Model: \`${info.model ?? model}\` · provider: ${info.providerName ?? 'unknown'}`,
    `Native tokens: ${tokens(info.nativeTokensPrompt)} in (${tokens(info.nativeTokensCached)} cached) / ${tokens(info.nativeTokensCompletion)} out (${tokens(info.nativeTokensReasoning)} reasoning)`,
    `Cost: ${info.totalCostUsd === null ? 'unknown' : formatUsd(info.totalCostUsd)} · latency: ${info.latencyMs === null ? 'unknown' : `${(info.latencyMs / 1000).toFixed(1)} s`}`,
  ];
}

/** The UTC day or month containing now: [from, to). */
export function periodWindow(period: Period, now: Date): { from: Date; to: Date; label: string } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  if (period === 'day') {
    const from = new Date(Date.UTC(y, m, now.getUTCDate()));
    return { from, to: new Date(from.getTime() + 86_400_000), label: from.toISOString().slice(0, 10) };
  }
  return { from: new Date(Date.UTC(y, m, 1)), to: new Date(Date.UTC(y, m + 1, 1)), label: now.toISOString().slice(0, 7) };
}

/** /usage top: one GROUP BY per section (Store.ledgerTotals), not the month's ledger in memory. */
async function showTop(ctx: CommandContext<z.infer<typeof options>>, period: Period): Promise<void> {
  const { invocation, core, isAdmin, reply } = ctx;
  if (!(await isAdmin())) throw new UserFacingError('not-admin', 'Only admins can use `/usage top` (server managers, or users listed in ADMIN_USER_IDS).');
  const window = periodWindow(period, new Date(core.clock.now()));
  const base = { platform: invocation.platform, workspaceId: invocation.workspaceId, from: window.from, to: window.to };
  const section = (key: LedgerGroupKey) => core.store.ledgerTotals({ ...base, groupBy: [key], limit: TOP_N });
  const [users, models, channels, [all], votes] = await Promise.all([
    section('userId'),
    section('model'),
    section('channelId'),
    core.store.ledgerTotals({ ...base, groupBy: ['workspaceId'] }),
    core.store.satisfaction({ platform: invocation.platform, workspaceId: invocation.workspaceId, from: window.from, to: window.to }),
  ]);
  const title = `**Top spenders ${period === 'day' ? 'today' : 'this month'}** (${window.label}, UTC)`;
  if (all === undefined) {
    await reply(`${title}
No usage yet.`, { ephemeral: true });
    return;
  }
  const names = await Promise.all(users.map(async (row) => nameOf(ctx, row.group.userId ?? '')));
  const line = (label: string, row: LedgerTotalsRow, i: number) =>
    `${i + 1}. ${label}: ${formatUsd(row.costUsd)} · ${row.requests} request${row.requests === 1 ? '' : 's'} · ${formatTokens(row.tokensIn + row.tokensOut)} tokens`;
  const lines = [
    title,
    `Total: ${formatUsd(all.costUsd)} · ${all.requests} request${all.requests === 1 ? '' : 's'} · ${formatTokens(all.tokensIn + all.tokensOut)} tokens`,
    '',
    '**Users**',
    ...users.map((row, i) => line(names[i] ?? '?', row, i)),
    '',
    '**Models**',
    ...models.map((row, i) => line(`\`${row.group.model}\``, row, i)),
    '',
    '**Channels**',
    ...channels.map((row, i) => line(`\`${row.group.channelId}\``, row, i)),
    ...satisfactionLines(votes),
  ];
  await reply(lines.join('\n'), { ephemeral: true });
}

async function nameOf(ctx: CommandContext<unknown>, userId: string): Promise<string> {
  if (userId === ctx.invocation.user.id) return ctx.invocation.user.name;
  const id = parseUserRef(userId) ?? userId;
  try {
    const user = await ctx.invocation.lookupUser?.(id);
    return user ? `${user.name} (${userId})` : userId;
  } catch {
    return userId;
  }
}

/** 👍/👎 votes on the period's answers per model, as a share of satisfied votes; nothing when nobody voted. */
function satisfactionLines(votes: readonly SatisfactionRow[]): string[] {
  const rated = votes.filter((row) => row.up + row.down > 0).slice(0, TOP_N);
  if (rated.length === 0) return [];
  return [
    '',
    '**Satisfaction** (👍/👎 on answers)',
    ...rated.map((row) => `\`${row.model}\`: ${Math.round((100 * row.up) / (row.up + row.down))}% satisfied · 👍 ${row.up} · 👎 ${row.down}`),
  ];
}
