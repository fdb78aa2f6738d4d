import { z } from 'zod';
import { defineCommand, defineSubcommand, type Invocation } from '../src/core/commands.ts';
import type { Core } from '../src/core/core.ts';
import { UserFacingError } from '../src/core/errors.ts';
import type { KeyState } from '../src/core/openrouter-key.ts';
import { formatAmount, formatUsd } from '../src/core/quota.ts';
import { parseRoleTarget, roleWordsOf, type RoleRef } from '../src/core/roles.ts';
import { resolveUser } from '../src/core/users.ts';
import { QUOTA_LIMITS, type QuotaLimitName, type QuotaSubject } from '../src/core/store-types.ts';

/** Far beyond any real budget; larger numbers are almost certainly typos. */
const MAX_COUNT = 1e12;
const MAX_USD = 1e9;

export function parseLimitValue(limit: QuotaLimitName, raw: string): number | null {
  const text = raw.trim().toLowerCase().replace(/^\$/, '');
  if (text === 'none' || text === 'unlimited') return null;
  const value = Number(text);
  const isUsd = limit.startsWith('usd');
  if (text === '' || !Number.isFinite(value)) {
    throw new UserFacingError('bad-input', `\`${raw.slice(0, 40)}\` is not a number; give ${isUsd ? 'an amount in USD like 2.50' : 'a whole number'}, or \`none\` for no limit.`);
  }
  if (value < 0) throw new UserFacingError('bad-input', 'A limit cannot be negative; use 0 to block, or `none` for no limit.');
  if (!isUsd && !Number.isInteger(value)) throw new UserFacingError('bad-input', `\`${limit}\` takes a whole number.`);
  if (value > (isUsd ? MAX_USD : MAX_COUNT)) {
    throw new UserFacingError('bad-input', `${raw.slice(0, 40)} is too large for \`${limit}\`; use \`none\` for no limit.`);
  }
  return value;
}

async function roleOf(invocation: Invocation, ref: string): Promise<RoleRef> {
  const { noun } = roleWordsOf(invocation);
  if (invocation.isDm) throw new UserFacingError('bad-input', `A direct message has no ${noun}s; set tiers in a server channel.`);
  if (!invocation.findRole) throw new UserFacingError('bad-input', `This platform has no ${noun}s to set limits for.`);
  const role = await invocation.findRole(ref);
  if (!role) throw new UserFacingError('not-found', `There is no ${noun} \`${ref.slice(0, 60)}\` here: give its name${noun === 'role' ? ', mention or id' : ' (handle) or id'}.`);
  return role;
}

async function subjectOf(invocation: Invocation, target: string): Promise<{ subject: QuotaSubject; label: string; role?: RoleRef }> {
  const word = target.trim().toLowerCase();
  if (word === 'default') return { subject: { kind: 'default' }, label: 'everyone (default)' };
  if (word === 'server') return { subject: { kind: 'server' }, label: 'the whole server' };
  const roleRef = parseRoleTarget(target);
  if (roleRef !== undefined) {
    const role = await roleOf(invocation, roleRef);
    return { subject: { kind: 'role', roleId: role.id }, label: `the ${roleWordsOf(invocation).noun} ${role.name}`, role };
  }
  const user = await resolveUser(invocation, target);
  return { subject: { kind: 'user', userId: user.id }, label: user.name };
}

/** /quota show <user>: each limit, which tier it comes from and why. */
async function userLines(core: Core, invocation: Invocation, ref: string): Promise<string> {
  const { platform, workspaceId } = invocation;
  const { noun } = roleWordsOf(invocation);
  const user = await resolveUser(invocation, ref);
  const { roles, lookupFailed } = await core.pipeline.rolesOf({ place: invocation, user, rolesOf: invocation.rolesOf?.bind(invocation) });
  const tiers = new Map((await core.store.listQuotaTiers(platform, workspaceId)).map((t) => [t.roleId, t]));
  const names = new Map(roles.map((r) => [r.id, r.name]));
  const views = await core.quota.limitsFor({ platform, workspaceId, userId: user.id }, roles.map((r) => r.id));
  const hasRoles = invocation.rolesOf !== undefined && !invocation.isDm;
  const lines = views.map((v) => {
    const amount = v.value === null ? 'none' : formatAmount(v.limit, v.value);
    if (!hasRoles) return `\`${v.limit}\`: ${amount} _(${v.source})_`;
    const why =
      v.source === 'role'
        ? `tier of the ${noun} ${names.get(v.roleId ?? '') ?? tiers.get(v.roleId ?? '')?.label ?? v.roleId}: the most generous of their ${noun}s' tiers`
        : v.source === 'user'
          ? 'their own limit, which wins over any tier'
          : `${v.source}: no own limit and no ${noun} of theirs has a tier for it`;
    return `\`${v.limit}\`: ${amount} _(${why})_`;
  });
  const withTier = roles.filter((r) => tiers.has(r.id)).map((r) => r.name);
  const roleLine = lookupFailed
    ? [`Their ${noun}s could not be read (${lookupFailed}); the default applies until they can.`]
    : hasRoles
      ? [`${noun[0]!.toUpperCase()}${noun.slice(1)}s with a tier: ${withTier.length > 0 ? withTier.join(', ') : 'none'}.`]
      : [];
  return [`**Limits for ${user.name}**`, ...roleLine, ...lines].join('\n');
}

/** /quota show: every tier of this server. */
async function tierLines(core: Core, invocation: Invocation): Promise<string[]> {
  const { noun, prefix } = roleWordsOf(invocation);
  const tiers = await core.store.listQuotaTiers(invocation.platform, invocation.workspaceId);
  if (tiers.length === 0) return [`**Tiers**: none. Give a ${noun} its own limits with \`/quota set ${prefix}:<name> <limit> <value>\`.`];
  const lines = tiers.map((tier) => {
    const limits = QUOTA_LIMITS.filter((l) => tier.limits[l] !== undefined).map((l) => `\`${l}\` ${tier.limits[l] === null ? 'none' : formatAmount(l, tier.limits[l]!)}`);
    return `${prefix}:${tier.label}: ${limits.join(', ') || 'no limits set'}`;
  });
  return [`**Tiers** (a member's own limits win; otherwise the most generous tier among their ${noun}s; otherwise the default)`, ...lines];
}

/** /quota show server: the server's budget and the OpenRouter key's own state. */
async function serverLines(core: Core, invocation: Invocation): Promise<string> {
  const { platform, workspaceId } = invocation;
  const budget = await core.quota.serverBudget(platform, workspaceId);
  const month = await core.store.usage(platform, workspaceId, undefined, new Date(core.clock.now()));
  const lines = [
    '**Server budget**',
    `\`usd-per-month\`: ${budget.value === null ? 'none' : formatUsd(budget.value)} _(${budget.source})_, ${formatUsd(month.month.usd)} used this month`,
    '',
    '**OpenRouter key** (all servers and platforms together; refreshed at most once a minute)',
    ...(await keyLines(core)),
  ];
  return lines.join('\n');
}

async function keyLines(core: Core): Promise<string[]> {
  if (!core.keyState) return ['Not available in this process.'];
  let key: KeyState;
  try {
    key = await core.keyState.get();
  } catch (error) {
    core.logger.warn({ err: error }, 'could not read the OpenRouter key state');
    return ['OpenRouter did not answer; try again shortly.'];
  }
  const usd = (v: number | undefined) => (v === undefined ? 'not reported' : formatUsd(v));
  const reset = key.limitReset ? ` (resets ${key.limitReset})` : '';
  return [
    `Limit: ${key.limitUsd === null ? 'none' : `${formatUsd(key.limitUsd)}${reset}`}`,
    `Remaining: ${key.remainingUsd === null ? 'no limit' : formatUsd(key.remainingUsd)}`,
    `Used today: ${usd(key.usageDailyUsd)} · this month: ${usd(key.usageMonthlyUsd)} · in all: ${formatUsd(key.usageUsd)}`,
    ...(key.isFreeTier ? ['Free tier: free models are limited to 50 requests a day.'] : []),
  ];
}

export default defineCommand({
  name: 'quota',
  description: 'Show or set usage limits (admins)',
  subcommands: {
    show: defineSubcommand({
      description: 'Show the limits for a user, or the defaults and the server budget (admins)',
      admin: true,
      options: z.object({
        user: z.string().trim().min(1).optional().describe('A user, or "server" for the budget and the OpenRouter key; leave out for the defaults'),
      }),
      async execute({ options, invocation, core, reply }) {
        const { platform, workspaceId } = invocation;
        if (options.user?.toLowerCase() === 'server') {
          await reply(await serverLines(core, invocation), { ephemeral: true });
          return;
        }
        const budget = await core.quota.serverBudget(platform, workspaceId);
        if (options.user) {
          await reply(await userLines(core, invocation, options.user), { ephemeral: true });
          return;
        }
        const defaults = await core.store.getQuotaLimits(platform, workspaceId, { kind: 'default' });
        const lines = QUOTA_LIMITS.map((limit) => {
          const set = defaults[limit];
          const value = set !== undefined ? set : core.quota.envDefault(limit);
          return `\`${limit}\`: ${value === null ? 'none' : formatAmount(limit, value)} _(${set !== undefined ? 'server default' : 'environment default'})_`;
        });
        const month = await core.store.usage(platform, workspaceId, undefined, new Date(core.clock.now()));
        lines.push(
          `Server budget \`usd-per-month\`: ${budget.value === null ? 'none' : formatUsd(budget.value)} _(${budget.source})_, ${formatUsd(month.month.usd)} used this month`,
        );
        lines.push(`Answers at once per user: ${core.config.quota.maxConcurrent}`);
        await reply(['**Default limits for everyone**', ...lines, ...(invocation.findRole && !invocation.isDm ? ['', ...(await tierLines(core, invocation))] : [])].join('\n'), { ephemeral: true });
      },
    }),
    set: defineSubcommand({
      description: 'Set a limit for a user, the default, or the server (admins)',
      admin: true,
      options: z.object({
        target: z.string().trim().min(1).describe('A user, role:<name> (Slack: group:<handle>), "default" (everyone) or "server"'),
        limit: z.enum(QUOTA_LIMITS).describe('Which limit'),
        value: z.string().trim().min(1).describe('A number, or "none" for no limit'),
      }),
      async execute({ options, invocation, core, reply }) {
        const value = parseLimitValue(options.limit, options.value);
        const { subject, label, role } = await subjectOf(invocation, options.target);
        if (subject.kind === 'server' && options.limit !== 'usd-per-month') {
          throw new UserFacingError('bad-input', 'The server as a whole has only a `usd-per-month` budget; use `default` for per-user limits.');
        }
        if (role) await core.store.setQuotaTier(invocation.platform, invocation.workspaceId, role.id, role.name);
        await core.store.setQuotaLimit(invocation.platform, invocation.workspaceId, subject, options.limit, value);
        await reply(`\`${options.limit}\` for ${label} is now ${value === null ? 'none (no limit)' : formatAmount(options.limit, value)}.`, {
          ephemeral: true,
        });
      },
    }),
    reset: defineSubcommand({
      description: "Remove a user's own limits, or a role's tier, so the defaults apply (admins)",
      admin: true,
      options: z.object({ user: z.string().trim().min(1).describe('The user, or role:<name> (Slack: group:<handle>)') }),
      async execute({ options, invocation, core, reply }) {
        const { subject, label } = await subjectOf(invocation, options.user);
        if (subject.kind === 'role') await core.store.deleteQuotaTier(invocation.platform, invocation.workspaceId, subject.roleId);
        else await core.store.clearQuotaLimits(invocation.platform, invocation.workspaceId, subject);
        await reply(`Limits for ${label} reset to the defaults.`, { ephemeral: true });
      },
    }),
  },
});
