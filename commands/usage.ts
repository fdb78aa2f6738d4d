import { z } from 'zod';
import { defineCommand } from '../src/core/commands.ts';
import { UserFacingError } from '../src/core/errors.ts';
import { formatAmount, formatDuration } from '../src/core/quota.ts';
import { resolveUser } from '../src/core/users.ts';
import type { QuotaLimitName, UsageTotals } from '../src/store/types.ts';

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

export default defineCommand({
  name: 'usage',
  description: 'Your usage and what is left of your quota (admins: anyone’s)',
  options: z.object({ user: z.string().trim().min(1).optional().describe('Whose usage (admins only, for others)') }),
  async execute({ options, invocation, core, isAdmin, reply }) {
    const target = options.user ? await resolveUser(invocation, options.user) : invocation.user;
    if (target.id !== invocation.user.id && !isAdmin) {
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
