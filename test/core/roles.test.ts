import { describe, expect, it } from 'vitest';
import { MembershipCache, parseRoleTarget } from '../../src/core/roles.ts';
import { createFakeClock } from '../fakes/fake-clock.ts';
import { captureLogger } from '../llm/helpers.ts';

const who = { platform: 'discord', workspaceId: 'g1', userId: 'u1' };

describe('MembershipCache', () => {
  it('reuses roles within the TTL, asks again after it, and keeps the last known roles for events without a lookup', async () => {
    const clock = createFakeClock(0);
    const cache = new MembershipCache(clock, captureLogger().logger, 60_000);
    let calls = 0;
    let roles = [{ id: 'r1', name: 'staff' }];
    const lookup = async () => {
      calls += 1;
      return roles;
    };
    expect((await cache.rolesOf(who, lookup)).roles).toEqual([{ id: 'r1', name: 'staff' }]);
    roles = [];
    await clock.advance(59_000);
    expect((await cache.rolesOf(who, lookup)).roles).toHaveLength(1);
    expect(calls).toBe(1);
    await clock.advance(2_000);
    expect((await cache.rolesOf(who, lookup)).roles).toEqual([]);
    expect(calls).toBe(2);
    expect((await cache.rolesOf({ ...who, userId: 'u2' }, undefined)).roles).toEqual([]);
  });

  it('a failed lookup gives no roles with the reason, is logged, and is retried after 30 s', async () => {
    const clock = createFakeClock(0);
    const log = captureLogger();
    const cache = new MembershipCache(clock, log.logger, 300_000);
    let fail = true;
    const lookup = async () => {
      if (fail) throw new Error('missing_scope');
      return [{ id: 'S1', name: 'leads' }];
    };
    expect(await cache.rolesOf(who, lookup)).toEqual({ roles: [], lookupFailed: 'missing_scope' });
    expect(log.entries().some((e) => e.msg === 'role lookup failed; the default tier and everyone rules apply')).toBe(true);
    fail = false;
    expect((await cache.rolesOf(who, lookup)).lookupFailed).toBe('missing_scope');
    await clock.advance(30_001);
    expect(await cache.rolesOf(who, lookup)).toEqual({ roles: [{ id: 'S1', name: 'leads' }] });
  });
});

describe('parseRoleTarget', () => {
  it.each([
    ['role:staff', 'staff'],
    ['role: Team Leads ', 'Team Leads'],
    ['group:@eng', '@eng'],
    ['ROLE:<@&123>', '<@&123>'],
    ['staff', undefined],
    ['role:', undefined],
  ])('%s', (text, expected) => expect(parseRoleTarget(text)).toBe(expected));
});
