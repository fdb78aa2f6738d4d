/**
 * Roles (Discord) and user groups (Slack) as quota tiers: a user's own limit
 * wins, else the most generous tier among their roles, else the server
 * default; under concurrent requests the totals are exact. A failed role
 * lookup falls back to the default tier and is logged, never a silent refusal.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Invocation } from '../../src/core/commands.ts';
import type { RoleRef } from '../../src/core/roles.ts';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { SLACK_ROLE_WORDS } from '../../src/platforms/slack/user-groups.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ROLES: Record<string, RoleRef> = {
  staff: { id: 'r-staff', name: 'staff' },
  leads: { id: 'r-leads', name: 'leads' },
  guests: { id: 'r-guests', name: 'guests' },
};
const admin = { id: 'u9', name: 'Grace', admin: true };

describe('quota tiers', () => {
  let app: TestApp;
  let h: Harness;
  let memberships: Record<string, string[]>;
  let lookups: number;
  let failLookups: boolean;

  const platformRoles: Partial<Invocation> = {
    rolesOf: async (userId) => {
      lookups += 1;
      if (failLookups) throw new Error('platform said 503');
      return (memberships[userId] ?? []).map((name) => ROLES[name]!);
    },
    findRole: async (ref) => Object.values(ROLES).find((r) => r.id === ref || r.name === ref.replace(/^@/, '')),
  };

  beforeEach(async () => {
    app = await startTestApp({ env: { QUOTA_MAX_CONCURRENT: '1000', DEFAULT_TOOLS: '', LOG_LEVEL: 'info' } });
    h = createHarness(app.core);
    memberships = { uada: ['staff', 'leads'], ubob: ['staff', 'guests'], ucarol: [], udave: ['leads'] };
    lookups = 0;
    failLookups = false;
    await h.run(admin, 'quota', 'set', { target: 'default', limit: 'requests-per-day', value: '2' });
    await h.run(admin, 'quota', 'set', { target: 'role:staff', limit: 'requests-per-day', value: '5' }, platformRoles);
    await h.run(admin, 'quota', 'set', { target: 'role:leads', limit: 'requests-per-day', value: '8' }, platformRoles);
    await h.run(admin, 'quota', 'set', { target: 'role:guests', limit: 'requests-per-day', value: '1' }, platformRoles);
    await h.run(admin, 'quota', 'set', { target: '<@udave>', limit: 'requests-per-day', value: '1' }, platformRoles);
    expect(h.replies.map((r) => r.text)).toEqual([
      '`requests-per-day` for everyone (default) is now 2.',
      '`requests-per-day` for the role staff is now 5.',
      '`requests-per-day` for the role leads is now 8.',
      '`requests-per-day` for the role guests is now 1.',
      '`requests-per-day` for User udave is now 1.',
    ]);
  });
  afterEach(async () => {
    await app.close();
  });

  async function askAtOnce(users: Record<string, number>): Promise<void> {
    const runs: Array<Promise<void>> = [];
    for (const [id, count] of Object.entries(users)) {
      for (let i = 0; i < count; i++) {
        runs.push(h.run({ id, name: id }, 'ask', undefined, { prompt: `q${i}` }, { ...platformRoles, channelId: `c-${id}-${i}`, conversationKey: `k-${id}-${i}` }));
      }
    }
    await Promise.all(runs);
  }

  async function answered(): Promise<Record<string, number>> {
    const rows = await app.core.store.ledger({});
    const out: Record<string, number> = {};
    for (const row of rows) if (row.outcome === 'ok') out[row.userId] = (out[row.userId] ?? 0) + 1;
    return out;
  }

  it('own > most generous role > default, exactly, under 80 concurrent requests', async () => {
    await askAtOnce({ uada: 20, ubob: 20, ucarol: 20, udave: 20 });
    // ada: leads (8) beats staff (5); bob: staff (5) beats guests (1); carol: default (2); dave: own 1 beats leads.
    expect(await answered()).toEqual({ uada: 8, ubob: 5, ucarol: 2, udave: 1 });
    const rows = await app.core.store.ledger({});
    expect(rows).toHaveLength(80);
    expect(rows.filter((r) => r.outcome === 'refused')).toHaveLength(64);
    // Cached with a TTL (and a burst shares one lookup): one per user, not one per request.
    expect(lookups).toBe(4);
  });

  it('a role without a limit on its own is "none" (unlimited), which beats any number', async () => {
    await h.run(admin, 'quota', 'set', { target: 'role:guests', limit: 'requests-per-day', value: 'none' }, platformRoles);
    await askAtOnce({ ubob: 12 });
    expect(await answered()).toEqual({ ubob: 12 });
  });

  it('/quota show <user> says which tier applies and why; /quota show lists the tiers', async () => {
    await h.run(admin, 'quota', 'show', { user: '<@uada>' }, platformRoles);
    expect(h.lastReply()).toContain('Roles with a tier: staff, leads.');
    expect(h.lastReply()).toContain("`requests-per-day`: 8 _(tier of the role leads: the most generous of their roles' tiers)_");
    await h.run(admin, 'quota', 'show', { user: '<@udave>' }, platformRoles);
    expect(h.lastReply()).toContain('`requests-per-day`: 1 _(their own limit, which wins over any tier)_');
    await h.run(admin, 'quota', 'show', { user: '<@ucarol>' }, platformRoles);
    expect(h.lastReply()).toContain('`requests-per-day`: 2 _(server default: no own limit and no role of theirs has a tier for it)_');
    await h.run(admin, 'quota', 'show', {}, platformRoles);
    expect(h.lastReply()).toContain('role:guests: `requests-per-day` 1');
    expect(h.lastReply()).toContain('role:leads: `requests-per-day` 8');
    expect(h.lastReply()).toContain('role:staff: `requests-per-day` 5');
    await h.run(admin, 'quota', 'reset', { user: 'role:guests' }, platformRoles);
    await h.run(admin, 'quota', 'show', {}, platformRoles);
    expect(h.lastReply()).not.toContain('role:guests');
  });

  it('an unknown role, or a platform without roles, is a clear message', async () => {
    await h.run(admin, 'quota', 'set', { target: 'role:nobody', limit: 'requests-per-day', value: '3' }, platformRoles);
    expect(h.lastReply()).toContain('There is no role `nobody` here');
    await h.run(admin, 'quota', 'set', { target: 'role:staff', limit: 'requests-per-day', value: '3' });
    expect(h.lastReply()).toContain('This platform has no roles to set limits for.');
    await h.run(admin, 'quota', 'set', { target: 'group:staff', limit: 'requests-per-day', value: '3' }, { ...platformRoles, roleWords: SLACK_ROLE_WORDS });
    expect(h.lastReply()).toBe('`requests-per-day` for the user group staff is now 3.');
  });

  it('a failed role lookup falls back to the default tier and is logged, never refused for it', async () => {
    failLookups = true;
    await askAtOnce({ uada: 6 });
    expect(await answered()).toEqual({ uada: 2 });
    expect(app.logs.some((l) => l.msg === 'role lookup failed; the default tier and everyone rules apply' && l.user === 'uada')).toBe(true);
    await h.run(admin, 'quota', 'show', { user: '<@uada>' }, platformRoles);
    expect(h.lastReply()).toContain('Their roles could not be read (platform said 503); the default applies until they can.');
  });
});
