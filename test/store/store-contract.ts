import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ActiveAnswer,
  AnswerRecord,
  EffectiveLimits,
  LedgerEntry,
  ReserveRequest,
  ReserveResult,
  SettingsScope,
  Store,
  UserKey,
} from '../../src/store/types.ts';
import type { MakeTestDatabase, TestDatabase } from './harness.ts';

const NOW = new Date('2024-05-15T12:00:00.000Z');
const NEXT_MIDNIGHT = new Date('2024-05-16T00:00:00.000Z');
const NEXT_MONTH = new Date('2024-06-01T00:00:00.000Z');
const HOUR = 3_600_000;

const alice: UserKey = { platform: 'discord', workspaceId: 'guild-1', userId: 'alice' };
const bob: UserKey = { platform: 'discord', workspaceId: 'guild-1', userId: 'bob' };

function request(over: Partial<ReserveRequest> = {}): ReserveRequest {
  return {
    id: randomUUID(),
    user: alice,
    channelId: 'chan-1',
    limits: {},
    estimate: { tokens: 100, usd: 0.01 },
    now: NOW,
    ttlMs: HOUR,
    ...over,
  };
}

function entry(over: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    requestId: randomUUID(),
    at: NOW,
    platform: alice.platform,
    workspaceId: alice.workspaceId,
    channelId: 'chan-1',
    userId: alice.userId,
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini-2024-07-18',
    tokensIn: 100,
    tokensOut: 50,
    tokensCached: 0,
    costUsd: 0.25,
    generationId: 'gen-1',
    outcome: 'ok',
    errorKind: null,
    webSearchRequests: 0,
    imagesOut: 0,
    ...over,
  };
}

function okCount(results: ReserveResult[]): number {
  return results.filter((r) => r.ok).length;
}

/**
 * The behaviour every Store backend must show. makeDatabase gives a fresh empty
 * database per test; shareable databases also get the two-instance tests, which
 * stand in for two processes (separate connections or pools on one database).
 */
export function describeStoreContract(name: string, makeDatabase: MakeTestDatabase): void {
  describe(`Store contract: ${name}`, () => {
    let database: TestDatabase;
    let store: Store;

    beforeEach(async () => {
      database = await makeDatabase();
      store = await database.open();
      await store.migrate();
    });

    afterEach(async () => {
      await database.dispose();
    });

    /** A second instance on the same database, as another process would have. */
    async function second(): Promise<Store> {
      const other = await database.open();
      await other.migrate();
      return other;
    }

    const itShared = (title: string, fn: () => Promise<void>) =>
      it(title, async (ctx) => {
        if (!database.shareable) ctx.skip();
        await fn();
      });

    describe('migrations', () => {
      it('are idempotent and keep data', async () => {
        await store.setMeta('k', 'v');
        await store.migrate();
        await store.migrate();
        expect(await store.getMeta('k')).toBe('v');
        await store.ping();
      });

      it('survive running twice at once on one instance', async () => {
        await Promise.all([store.migrate(), store.migrate()]);
        await store.ping();
      });

      it('are safe when two instances migrate a fresh database at once', async (ctx) => {
        const fresh = await makeDatabase();
        try {
          if (!fresh.shareable) ctx.skip();
          const [a, b, c] = await Promise.all([fresh.open(), fresh.open(), fresh.open()]);
          await Promise.all([a.migrate(), b.migrate(), c.migrate()]);
          await a.setMeta('x', '1');
          expect(await b.getMeta('x')).toBe('1');
          expect((await c.reserve(request())).ok).toBe(true);
        } finally {
          await fresh.dispose();
        }
      });
    });

    describe('settings', () => {
      const channel: SettingsScope = { platform: 'discord', kind: 'channel', id: 'chan-1' };
      const workspace: SettingsScope = { platform: 'discord', kind: 'workspace', id: 'chan-1' };
      const slack: SettingsScope = { platform: 'slack', kind: 'channel', id: 'chan-1' };

      it('stores JSON values per scope', async () => {
        expect(await store.getSettings(channel)).toEqual({});
        await store.setSetting(channel, 'model', 'openai/gpt-4o');
        await store.setSetting(channel, 'temperature', 0.7);
        await store.setSetting(channel, 'tools', { web: true, list: [1, 'two', null] });
        await store.setSetting(channel, 'footer', false);
        await store.setSetting(channel, 'nothing', null);
        await store.setSetting(workspace, 'model', 'anthropic/claude');
        await store.setSetting(slack, 'model', 'google/gemini');

        expect(await store.getSettings(channel)).toEqual({
          model: 'openai/gpt-4o',
          temperature: 0.7,
          tools: { web: true, list: [1, 'two', null] },
          footer: false,
          nothing: null,
        });
        expect(await store.getSettings(workspace)).toEqual({ model: 'anthropic/claude' });
        expect(await store.getSettings(slack)).toEqual({ model: 'google/gemini' });
        // Several scopes in one read, each answer in the order asked, none bleeding into another.
        const other: SettingsScope = { platform: 'discord', kind: 'channel', id: 'chan-2' };
        expect(await store.getSettingsOf([workspace, other, slack])).toEqual([
          { model: 'anthropic/claude' },
          {},
          { model: 'google/gemini' },
        ]);
        expect(await store.getSettingsOf([])).toEqual([]);
      });

      it('overwrites, removes with undefined, and clears some or all keys', async () => {
        await store.setSetting(channel, 'a', 1);
        await store.setSetting(channel, 'a', 2);
        await store.setSetting(channel, 'b', 3);
        await store.setSetting(channel, 'c', 4);
        await store.setSetting(workspace, 'a', 9);
        expect(await store.getSettings(channel)).toEqual({ a: 2, b: 3, c: 4 });

        await store.setSetting(channel, 'b', undefined);
        await store.setSetting(channel, 'missing', undefined);
        expect(await store.getSettings(channel)).toEqual({ a: 2, c: 4 });

        await store.clearSettings(channel, []);
        await store.clearSettings(channel, ['c', 'missing']);
        expect(await store.getSettings(channel)).toEqual({ a: 2 });

        await store.clearSettings(channel);
        expect(await store.getSettings(channel)).toEqual({});
        expect(await store.getSettings(workspace)).toEqual({ a: 9 });
      });

      it('rejects values that are not JSON', async () => {
        await expect(store.setSetting(channel, 'f', () => 1)).rejects.toThrow(/JSON/);
      });
    });

    describe('quota limits', () => {
      it('are kept per subject, with null meaning unlimited and undefined removing', async () => {
        const user = { kind: 'user', userId: 'alice' } as const;
        await store.setQuotaLimit('discord', 'guild-1', user, 'requests-per-day', 5);
        await store.setQuotaLimit('discord', 'guild-1', user, 'usd-per-month', null);
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'default' }, 'requests-per-day', 20);
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'server' }, 'usd-per-month', 12.5);
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'bob' }, 'tokens-per-day', 1000);
        await store.setQuotaLimit('discord', 'guild-2', user, 'usd-per-day', 1);

        expect(await store.getQuotaLimits('discord', 'guild-1', user)).toEqual({
          'requests-per-day': 5,
          'usd-per-month': null,
        });
        expect(await store.getQuotaLimits('discord', 'guild-1', { kind: 'default' })).toEqual({
          'requests-per-day': 20,
        });
        expect(await store.getQuotaLimits('discord', 'guild-1', { kind: 'server' })).toEqual({ 'usd-per-month': 12.5 });
        expect(await store.getQuotaLimits('slack', 'guild-1', user)).toEqual({});
        // The quota check's single read: this user's own rows, not bob's, not guild-2's.
        expect(await store.getQuotaLimitSet('discord', 'guild-1', 'alice')).toEqual({
          user: { 'requests-per-day': 5, 'usd-per-month': null },
          default: { 'requests-per-day': 20 },
          server: { 'usd-per-month': 12.5 },
          version: expect.any(Number),
        });
        expect(await store.getQuotaLimitSet('discord', 'guild-1', 'carol')).toEqual({
          user: {},
          default: { 'requests-per-day': 20 },
          server: { 'usd-per-month': 12.5 },
          version: expect.any(Number),
        });
        expect(await store.getQuotaLimitSet('slack', 'guild-1', 'alice')).toEqual({ user: {}, default: {}, server: {}, version: 0 });

        await store.setQuotaLimit('discord', 'guild-1', user, 'requests-per-day', 7);
        await store.setQuotaLimit('discord', 'guild-1', user, 'usd-per-month', undefined);
        expect(await store.getQuotaLimits('discord', 'guild-1', user)).toEqual({ 'requests-per-day': 7 });

        await store.clearQuotaLimits('discord', 'guild-1', user);
        expect(await store.getQuotaLimits('discord', 'guild-1', user)).toEqual({});
        expect(await store.getQuotaLimits('discord', 'guild-1', { kind: 'user', userId: 'bob' })).toEqual({
          'tokens-per-day': 1000,
        });
        expect(await store.getQuotaLimits('discord', 'guild-2', user)).toEqual({ 'usd-per-day': 1 });
      });

      it('keep tiers (roles, user groups) with their limits, read with the user in one set, and removed whole', async () => {
        const staff = { kind: 'role', roleId: 'r-staff' } as const;
        await store.setQuotaTier('discord', 'guild-1', 'r-staff', 'staff');
        await store.setQuotaLimit('discord', 'guild-1', staff, 'usd-per-day', 5);
        await store.setQuotaLimit('discord', 'guild-1', staff, 'requests-per-day', null);
        await store.setQuotaTier('discord', 'guild-1', 'r-leads', 'leads');
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'role', roleId: 'r-leads' }, 'usd-per-day', 20);
        await store.setQuotaTier('discord', 'guild-2', 'r-staff', 'other guild');
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'r-staff' }, 'usd-per-day', 1);
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'default' }, 'requests-per-day', 20);
        // Renamed on the platform: set again under the new label.
        await store.setQuotaTier('discord', 'guild-1', 'r-leads', 'team leads');

        expect(await store.getQuotaLimits('discord', 'guild-1', staff)).toEqual({ 'usd-per-day': 5, 'requests-per-day': null });
        expect(await store.listQuotaTiers('discord', 'guild-1')).toEqual([
          { roleId: 'r-staff', label: 'staff', limits: { 'usd-per-day': 5, 'requests-per-day': null } },
          { roleId: 'r-leads', label: 'team leads', limits: { 'usd-per-day': 20 } },
        ]);
        expect(await store.getQuotaLimitSet('discord', 'guild-1', 'alice', ['r-staff', 'r-none', 'r-staff'])).toEqual({
          user: {},
          default: { 'requests-per-day': 20 },
          server: {},
          roles: { 'r-staff': { 'usd-per-day': 5, 'requests-per-day': null } },
          version: expect.any(Number),
        });
        // A user id that happens to equal a role id is not that role's tier, and the other way round.
        expect(await store.getQuotaLimitSet('discord', 'guild-1', 'r-staff', [])).toEqual({ user: { 'usd-per-day': 1 }, default: { 'requests-per-day': 20 }, server: {}, roles: {}, version: expect.any(Number) });

        await store.deleteQuotaTier('discord', 'guild-1', 'r-staff');
        expect(await store.getQuotaLimits('discord', 'guild-1', staff)).toEqual({});
        expect((await store.listQuotaTiers('discord', 'guild-1')).map((t) => t.label)).toEqual(['team leads']);
        expect(await store.listQuotaTiers('discord', 'guild-2')).toEqual([{ roleId: 'r-staff', label: 'other guild', limits: {} }]);
      });
      it('carry the workspace’s limits version, which every change to its limits (and only its) raises', async () => {
        const versionOf = async (workspaceId: string, roleIds?: string[]) => (await store.getQuotaLimitSet('discord', workspaceId, 'alice', roleIds)).version!;
        const seen = [await versionOf('guild-1')];
        const changes: Array<() => Promise<void>> = [
          () => store.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'alice' }, 'requests-per-day', 5),
          // Setting the same limit again (an update, not an insert) is a change too.
          () => store.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'alice' }, 'requests-per-day', 6),
          () => store.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'bob' }, 'tokens-per-day', 10),
          () => store.setQuotaLimit('discord', 'guild-1', { kind: 'role', roleId: 'r-staff' }, 'usd-per-day', 1),
          () => store.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'alice' }, 'requests-per-day', undefined),
          () => store.clearQuotaLimits('discord', 'guild-1', { kind: 'user', userId: 'bob' }),
          () => store.deleteQuotaTier('discord', 'guild-1', 'r-staff'),
        ];
        for (const change of changes) {
          await change();
          const version = await versionOf('guild-1');
          expect(seen).not.toContain(version);
          seen.push(version);
          // The read with roles carries the same version.
          expect(await versionOf('guild-1', ['r-staff'])).toBe(version);
        }
        // Another workspace's changes leave it alone.
        const before = await versionOf('guild-1');
        const other = await versionOf('guild-2');
        await store.setQuotaLimit('discord', 'guild-2', { kind: 'default' }, 'requests-per-day', 3);
        await store.setQuotaLimit('slack', 'guild-1', { kind: 'default' }, 'requests-per-day', 3);
        expect(await versionOf('guild-1')).toBe(before);
        expect(await versionOf('guild-2')).not.toBe(other);
      });
    });

    describe('reserve', () => {
      it('allows everything when no limit is set, and null means no limit', async () => {
        const nulls: EffectiveLimits = {
          requestsPerDay: null,
          tokensPerDay: null,
          usdPerDay: null,
          usdPerMonth: null,
          serverUsdPerMonth: null,
          maxConcurrent: null,
        };
        for (let i = 0; i < 5; i++) {
          expect(await store.reserve(request({ limits: nulls, estimate: { tokens: 1e9, usd: 1e6 } }))).toEqual({
            ok: true,
          });
        }
        expect(await store.reserve(request())).toEqual({ ok: true });
      });

      it('refuses past the concurrency cap with no reset time', async () => {
        const limits = { maxConcurrent: 2 };
        expect((await store.reserve(request({ limits }))).ok).toBe(true);
        expect((await store.reserve(request({ limits }))).ok).toBe(true);
        const refused = await store.reserve(request({ limits }));
        expect(refused).toEqual({ ok: false, limit: 'concurrent-requests', used: 2, max: 2 });
        expect(refused.ok === false && 'resetsAt' in refused).toBe(false);
        // Another user is not affected.
        expect((await store.reserve(request({ user: bob, limits }))).ok).toBe(true);
      });

      it('reserves nothing when the limits changed since the version it carries, and ignores the version on a top-up', async () => {
        const { version } = await store.getQuotaLimitSet('discord', 'guild-1', 'alice');
        const limits = { requestsPerDay: 1 };
        const first = request({ limits, limitsVersion: version! });
        expect(await store.reserve(first)).toEqual({ ok: true });
        // Another process (or this one) changes a limit of the workspace: a reserve with the old version is told so and holds nothing.
        await store.setQuotaLimit('discord', 'guild-1', { kind: 'default' }, 'tokens-per-day', 1e9);
        expect(await store.reserve(request({ limits: {}, limitsVersion: version! }))).toEqual({ ok: false, stale: true });
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).reserved.requests).toBe(1);
        // With the current version the limits it carries are enforced as usual.
        const current = (await store.getQuotaLimitSet('discord', 'guild-1', 'alice')).version!;
        expect(await store.reserve(request({ limits, limitsVersion: current }))).toMatchObject({ ok: false, limit: 'requests-per-day' });
        // A top-up keeps its reserve's limits: an old version is no reason to refuse it.
        expect(await store.topUp({ ...first, estimate: { tokens: 500, usd: 0.02 } })).toEqual({ ok: true });
        // Another workspace's change does not make this one's version stale.
        await store.setQuotaLimit('discord', 'guild-2', { kind: 'default' }, 'tokens-per-day', 5);
        expect(await store.reserve(request({ user: bob, limits: {}, limitsVersion: current }))).toEqual({ ok: true });
      });

      it('refuses requests-per-day counting settled rows and live reservations', async () => {
        await store.settle(null, entry());
        await store.settle(null, entry({ outcome: 'error', errorKind: 'upstream' }));
        expect((await store.reserve(request({ limits: { requestsPerDay: 3 } }))).ok).toBe(true);
        expect(await store.reserve(request({ limits: { requestsPerDay: 3 } }))).toEqual({
          ok: false,
          limit: 'requests-per-day',
          used: 3,
          max: 3,
          resetsAt: NEXT_MIDNIGHT,
        });
      });

      it('refuses tokens-per-day with the estimate added', async () => {
        await store.settle(null, entry({ tokensIn: 100, tokensOut: 50 }));
        expect((await store.reserve(request({ estimate: { tokens: 30, usd: 0 } }))).ok).toBe(true);
        const limits = { tokensPerDay: 200 };
        expect(await store.reserve(request({ limits, estimate: { tokens: 21, usd: 0 } }))).toEqual({
          ok: false,
          limit: 'tokens-per-day',
          used: 180,
          max: 200,
          resetsAt: NEXT_MIDNIGHT,
        });
        expect((await store.reserve(request({ limits, estimate: { tokens: 20, usd: 0 } }))).ok).toBe(true);
      });

      it('refuses usd-per-day', async () => {
        await store.settle(null, entry({ costUsd: 0.5 }));
        await store.settle(null, entry({ costUsd: 9, at: new Date('2024-05-14T12:00:00Z') }));
        expect((await store.reserve(request({ estimate: { tokens: 0, usd: 0.25 } }))).ok).toBe(true);
        const limits = { usdPerDay: 1 };
        const refused = await store.reserve(request({ limits, estimate: { tokens: 0, usd: 0.3 } }));
        expect(refused).toMatchObject({ ok: false, limit: 'usd-per-day', max: 1, resetsAt: NEXT_MIDNIGHT });
        expect(refused.ok === false && !refused.stale && refused.used).toBeCloseTo(0.75, 9);
        // Exactly reaching the limit is allowed (0.5 + 0.25 + 0.25 = 1).
        expect((await store.reserve(request({ limits, estimate: { tokens: 0, usd: 0.25 } }))).ok).toBe(true);
      });

      it('refuses usd-per-month counting earlier days of the month only', async () => {
        await store.settle(null, entry({ costUsd: 3, at: new Date('2024-05-01T00:00:00Z') }));
        await store.settle(null, entry({ costUsd: 100, at: new Date('2024-04-30T23:59:59.999Z') }));
        await store.settle(null, entry({ costUsd: 1 }));
        const limits = { usdPerDay: 10, usdPerMonth: 5 };
        const refused = await store.reserve(request({ limits, estimate: { tokens: 0, usd: 1.5 } }));
        expect(refused).toMatchObject({ ok: false, limit: 'usd-per-month', max: 5, resetsAt: NEXT_MONTH });
        expect(refused.ok === false && !refused.stale && refused.used).toBeCloseTo(4, 9);
        expect((await store.reserve(request({ limits, estimate: { tokens: 0, usd: 1 } }))).ok).toBe(true);
      });

      it('refuses the workspace budget across users, last in order', async () => {
        await store.settle(null, entry({ userId: 'bob', costUsd: 6 }));
        await store.settle(null, entry({ userId: 'carol', costUsd: 3, at: new Date('2024-05-02T08:00:00Z') }));
        await store.settle(null, entry({ workspaceId: 'guild-2', costUsd: 50 }));
        expect((await store.reserve(request({ user: bob, estimate: { tokens: 0, usd: 0.5 } }))).ok).toBe(true);
        const limits = { serverUsdPerMonth: 10, usdPerMonth: 100 };
        const refused = await store.reserve(request({ limits, estimate: { tokens: 0, usd: 0.6 } }));
        expect(refused).toMatchObject({
          ok: false,
          limit: 'server-usd-per-month',
          max: 10,
          resetsAt: NEXT_MONTH,
        });
        expect(refused.ok === false && !refused.stale && refused.used).toBeCloseTo(9.5, 9);
        expect((await store.reserve(request({ limits, estimate: { tokens: 0, usd: 0.5 } }))).ok).toBe(true);
      });

      it('reports the first broken limit in the documented order', async () => {
        await store.settle(null, entry({ tokensIn: 1000, tokensOut: 0, costUsd: 10 }));
        expect((await store.reserve(request())).ok).toBe(true);
        const all: EffectiveLimits = {
          maxConcurrent: 1,
          requestsPerDay: 1,
          tokensPerDay: 1,
          usdPerDay: 1,
          usdPerMonth: 1,
          serverUsdPerMonth: 1,
        };
        const order = [
          ['maxConcurrent', 'concurrent-requests'],
          ['requestsPerDay', 'requests-per-day'],
          ['tokensPerDay', 'tokens-per-day'],
          ['usdPerDay', 'usd-per-day'],
          ['usdPerMonth', 'usd-per-month'],
          ['serverUsdPerMonth', 'server-usd-per-month'],
        ] as const;
        const limits: EffectiveLimits = { ...all };
        for (const [field, limit] of order) {
          const result = await store.reserve(request({ limits }));
          expect(result.ok === false && !result.stale && result.limit).toBe(limit);
          limits[field] = undefined;
        }
        expect((await store.reserve(request({ limits }))).ok).toBe(true);
      });

      it('counts a zero limit as refusing everything', async () => {
        expect(await store.reserve(request({ limits: { requestsPerDay: 0 } }))).toMatchObject({
          ok: false,
          limit: 'requests-per-day',
          used: 0,
          max: 0,
        });
      });

      it('uses UTC day and month windows around midnight and month end', async () => {
        const lastMs = new Date('2024-02-29T23:59:59.999Z');
        await store.settle(null, entry({ at: new Date('2024-02-29T00:00:00.000Z'), costUsd: 1 }));
        await store.settle(null, entry({ at: new Date('2024-02-28T23:59:59.999Z'), costUsd: 2 }));
        const limits = { requestsPerDay: 1, usdPerMonth: 3.5 };

        expect(await store.reserve(request({ now: lastMs, limits }))).toEqual({
          ok: false,
          limit: 'requests-per-day',
          used: 1,
          max: 1,
          resetsAt: new Date('2024-03-01T00:00:00.000Z'),
        });
        const monthRefusal = await store.reserve(
          request({ now: lastMs, limits: { usdPerMonth: 3.5 }, estimate: { tokens: 0, usd: 0.6 } }),
        );
        expect(monthRefusal).toMatchObject({ limit: 'usd-per-month', resetsAt: new Date('2024-03-01T00:00:00Z') });
        expect(monthRefusal.ok === false && !monthRefusal.stale && monthRefusal.used).toBeCloseTo(3, 9);

        // One millisecond later it is a new day and a new month.
        const march = new Date('2024-03-01T00:00:00.000Z');
        expect(await store.reserve(request({ now: march, limits, estimate: { tokens: 0, usd: 3.5 } }))).toEqual({
          ok: true,
        });
        const snapshot = await store.usage('discord', 'guild-1', 'alice', march);
        expect(snapshot.dayResetsAt).toEqual(new Date('2024-03-02T00:00:00.000Z'));
        expect(snapshot.monthResetsAt).toEqual(new Date('2024-04-01T00:00:00.000Z'));
        expect(snapshot.reserved).toEqual({ requests: 1, tokens: 0, usd: 3.5 });
        expect(snapshot.day).toEqual(snapshot.reserved);
        expect(snapshot.month).toEqual(snapshot.reserved);

        const december = new Date('2024-12-31T23:00:00Z');
        expect(await store.reserve(request({ now: december, limits: { requestsPerDay: 0 } }))).toMatchObject({
          resetsAt: new Date('2025-01-01T00:00:00Z'),
        });
      });

      it('stops counting a reservation once its TTL has passed', async () => {
        const limits = { requestsPerDay: 1 };
        expect((await store.reserve(request({ limits, ttlMs: 1000, owner: 'proc-a' }))).ok).toBe(true);
        const justBefore = new Date(NOW.getTime() + 999);
        const atExpiry = new Date(NOW.getTime() + 1000);
        expect(await store.reserve(request({ limits, now: justBefore }))).toMatchObject({ ok: false, used: 1 });
        expect((await store.usage('discord', 'guild-1', 'alice', justBefore)).reserved.requests).toBe(1);
        expect((await store.usage('discord', 'guild-1', 'alice', atExpiry)).reserved.requests).toBe(0);
        expect((await store.reserve(request({ limits, now: atExpiry, ttlMs: 1000 }))).ok).toBe(true);

        // The first is expired at atExpiry; the second lives until atExpiry + 1000.
        expect(await store.expireReservations(atExpiry)).toBe(1);
        expect(await store.expireReservations(atExpiry)).toBe(0);
        expect((await store.usage('discord', 'guild-1', 'alice', atExpiry)).reserved.requests).toBe(1);
      });

      it('releases every reservation of one owner', async () => {
        await store.reserve(request({ owner: 'proc-a' }));
        await store.reserve(request({ owner: 'proc-a', user: bob }));
        await store.reserve(request({ owner: 'proc-b' }));
        await store.reserve(request());
        expect(await store.releaseReservations('proc-a')).toBe(2);
        expect(await store.releaseReservations('proc-a')).toBe(0);
        expect((await store.usage('discord', 'guild-1', undefined, NOW)).reserved.requests).toBe(2);
      });

      it('allows a sum of doubles that lands exactly on a USD limit (0.1 + 0.2 of 0.3), settled and live, and refuses a hair more', async () => {
        await store.settle(null, entry({ costUsd: 0.1 }));
        const limits = { usdPerDay: 0.3, usdPerMonth: 0.3, serverUsdPerMonth: 0.3 };
        expect(await store.reserve(request({ limits, estimate: { tokens: 0, usd: 0.2 } }))).toEqual({ ok: true });
        expect(await store.reserve(request({ limits, estimate: { tokens: 0, usd: 0 } }))).toEqual({ ok: true });
        const refused = await store.reserve(request({ limits, estimate: { tokens: 0, usd: 1e-6 } }));
        expect(refused).toMatchObject({ ok: false, limit: 'usd-per-day', max: 0.3, resetsAt: NEXT_MIDNIGHT });
        expect((refused as { used: number }).used).toBeCloseTo(0.3, 12);
        const server = await store.reserve(request({ user: bob, limits: { serverUsdPerMonth: 0.3 }, estimate: { tokens: 0, usd: 1e-6 } }));
        expect(server).toMatchObject({ ok: false, limit: 'server-usd-per-month', max: 0.3, resetsAt: NEXT_MONTH });
      });

      it('keeps workspaces apart under simultaneous reserves in many of them', async () => {
        const limits = { requestsPerDay: 3, maxConcurrent: null };
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.reserve(request({ user: { ...alice, workspaceId: `guild-${i % 20}` }, limits }))),
        );
        expect(okCount(results)).toBe(60);
        for (let w = 0; w < 20; w++) expect((await store.usage('discord', `guild-${w}`, 'alice', NOW)).reserved.requests).toBe(3);
      });

      it('lets exactly 10 of 200 simultaneous reserves through a limit of 10 per day', async () => {
        const limits = { requestsPerDay: 10, maxConcurrent: null };
        const results = await Promise.all(Array.from({ length: 200 }, () => store.reserve(request({ limits }))));
        expect(okCount(results)).toBe(10);
        for (const r of results.filter((x) => !x.ok)) {
          expect(r).toEqual({ ok: false, limit: 'requests-per-day', used: 10, max: 10, resetsAt: NEXT_MIDNIGHT });
        }
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).day.requests).toBe(10);
      });

      itShared('holds the same limit across two instances (two processes) on one database', async () => {
        const other = await second();
        const limits = { requestsPerDay: 10, maxConcurrent: null };
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? store : other).reserve(request({ limits }))),
        );
        expect(okCount(results)).toBe(10);
        expect((await other.usage('discord', 'guild-1', 'alice', NOW)).reserved.requests).toBe(10);
      });

      itShared('holds every user’s limit exactly when reserves and settles of many workspaces run at once on two instances', async () => {
        // PostgreSQL carries these many to a statement, across workspaces, taking their locks in one order: no deadlock, nothing lost.
        const other = await second();
        const limits = { requestsPerDay: 3, maxConcurrent: null };
        const users = Array.from({ length: 20 }, (_, w) => [0, 1].map((u) => ({ platform: 'discord', workspaceId: `ws-${w}`, userId: `u-${u}` })))
          .flat();
        const outcomes = await Promise.all(
          users.flatMap((user, n) =>
            Array.from({ length: 5 }, async (_, i) => {
              const instance = (n + i) % 2 === 0 ? store : other;
              const req = request({ user, limits });
              const result = await instance.reserve(req);
              if (result.ok) await instance.settle(req.id, entry({ requestId: req.id, platform: user.platform, workspaceId: user.workspaceId, userId: user.userId }));
              return result.ok;
            }),
          ),
        );
        expect(outcomes.filter(Boolean)).toHaveLength(users.length * 3);
        for (const user of users) {
          const usage = await other.usage(user.platform, user.workspaceId, user.userId, NOW);
          expect(usage.day.requests).toBe(3);
          expect(usage.reserved.requests).toBe(0);
        }
        expect(await store.ledger({})).toHaveLength(users.length * 3);
      });

      it('holds the concurrency cap under simultaneous reserves', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, () => store.reserve(request({ limits: { maxConcurrent: 3 } }))),
        );
        expect(okCount(results)).toBe(3);
      });

      itShared('holds the workspace budget across users and instances', async () => {
        const other = await second();
        const limits = { serverUsdPerMonth: 1 };
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 === 0 ? store : other).reserve(
              request({ user: { ...alice, userId: `user-${i}` }, limits, estimate: { tokens: 0, usd: 0.125 } }),
            ),
          ),
        );
        expect(okCount(results)).toBe(8);
      });

      it('holds the workspace budget across users on one instance', async () => {
        const limits = { serverUsdPerMonth: 1 };
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            store.reserve(
              request({ user: { ...alice, userId: `user-${i}` }, limits, estimate: { tokens: 0, usd: 0.125 } }),
            ),
          ),
        );
        expect(okCount(results)).toBe(8);
      });
    });

    describe('topUp (a further tool round)', () => {
      it('raises a live reservation to the new total, never lowers it, and is not a new request', async () => {
        const first = request({ limits: { maxConcurrent: 1, requestsPerDay: 1 }, estimate: { tokens: 100, usd: 0.01 } });
        expect((await store.reserve(first)).ok).toBe(true);
        // Neither the concurrency cap nor requests-per-day counts the raise.
        expect(await store.topUp({ ...first, estimate: { tokens: 300, usd: 0.03 } })).toEqual({ ok: true });
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).reserved).toEqual({ requests: 1, tokens: 300, usd: 0.03 });
        expect(await store.topUp({ ...first, estimate: { tokens: 10, usd: 0.001 } })).toEqual({ ok: true });
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).reserved).toEqual({ requests: 1, tokens: 300, usd: 0.03 });
      });

      it('refuses a raise past usd-per-day counting settled usage and the other reservations', async () => {
        const limits = { usdPerDay: 1, maxConcurrent: null };
        await store.settle(null, entry({ costUsd: 0.5 }));
        const other = request({ limits, estimate: { tokens: 0, usd: 0.25 } });
        const mine = request({ limits, estimate: { tokens: 0, usd: 0.125 } });
        expect((await store.reserve(other)).ok).toBe(true);
        expect((await store.reserve(mine)).ok).toBe(true);
        expect(await store.topUp({ ...mine, estimate: { tokens: 0, usd: 0.25 } })).toEqual({ ok: true });
        expect(await store.topUp({ ...mine, estimate: { tokens: 0, usd: 0.375 } })).toEqual({
          ok: false,
          limit: 'usd-per-day',
          used: 1,
          max: 1,
          resetsAt: NEXT_MIDNIGHT,
        });
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).reserved.usd).toBeCloseTo(0.5, 12);
      });

      it('refuses a raise past the workspace budget', async () => {
        const limits = { serverUsdPerMonth: 1 };
        const mine = request({ limits, estimate: { tokens: 0, usd: 0.5 } });
        expect((await store.reserve(mine)).ok).toBe(true);
        expect((await store.reserve(request({ user: bob, limits, estimate: { tokens: 0, usd: 0.5 } }))).ok).toBe(true);
        expect(await store.topUp({ ...mine, estimate: { tokens: 0, usd: 0.6 } })).toMatchObject({ ok: false, limit: 'server-usd-per-month' });
      });

      it('reserves again from scratch, with every check, when the reservation has expired', async () => {
        const mine = request({ limits: { usdPerDay: 1 }, estimate: { tokens: 0, usd: 0.5 }, ttlMs: 1000 });
        expect((await store.reserve(mine)).ok).toBe(true);
        const later = new Date(NOW.getTime() + 2000);
        expect(await store.topUp({ ...mine, now: later, estimate: { tokens: 0, usd: 0.75 } })).toEqual({ ok: true });
        expect((await store.usage('discord', 'guild-1', 'alice', later)).reserved).toEqual({ requests: 1, tokens: 0, usd: 0.75 });
        await store.settle(mine.id, entry({ requestId: mine.id, costUsd: 0.7 }));
        expect((await store.usage('discord', 'guild-1', 'alice', later)).reserved.requests).toBe(0);
      });

      it('never lets 200 simultaneous reserves and raises past the limit', async () => {
        const limits = { usdPerDay: 1, maxConcurrent: null };
        const requests = Array.from({ length: 200 }, () => request({ limits, estimate: { tokens: 0, usd: 0.004 } }));
        expect(okCount(await Promise.all(requests.map((r) => store.reserve(r))))).toBe(200);
        // $0.80 held; each raise adds $0.006: 33 fit in the $0.20 left.
        const raised = await Promise.all(requests.map((r) => store.topUp({ ...r, estimate: { tokens: 0, usd: 0.01 } })));
        expect(okCount(raised)).toBe(33);
        const reservedUsd = (await store.usage('discord', 'guild-1', 'alice', NOW)).reserved.usd;
        expect(reservedUsd).toBeLessThanOrEqual(1);
        expect(reservedUsd).toBeCloseTo(0.998, 9);
      });

      itShared('holds the limit when two instances raise at once', async () => {
        const other = await second();
        const limits = { usdPerDay: 1, maxConcurrent: null };
        const requests = Array.from({ length: 40 }, () => request({ limits, estimate: { tokens: 0, usd: 0.01 } }));
        for (const r of requests) expect((await store.reserve(r)).ok).toBe(true);
        const raised = await Promise.all(requests.map((r, i) => (i % 2 === 0 ? store : other).topUp({ ...r, estimate: { tokens: 0, usd: 0.1 } })));
        expect(okCount(raised)).toBe(6);
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).reserved.usd).toBeLessThanOrEqual(1 + 1e-9);
      });
    });

    describe('settle', () => {
      it('keeps the reasoning tokens of a row (0 when none)', async () => {
        await store.settle(null, entry({ requestId: 'thinker', tokensReasoning: 900 }));
        await store.settle(null, entry({ requestId: 'plain' }));
        const rows = await store.ledger({});
        expect(rows.find((r) => r.requestId === 'thinker')?.tokensReasoning).toBe(900);
        expect(rows.find((r) => r.requestId === 'plain')?.tokensReasoning ?? 0).toBe(0);
      });

      it('replaces the reservation with exactly one ledger row, idempotently', async () => {
        const reservation = request();
        expect((await store.reserve(reservation)).ok).toBe(true);
        const row = entry();
        await store.settle(reservation.id, row);
        await store.settle(reservation.id, row);
        await store.settle(reservation.id, { ...row, costUsd: 99 });
        expect(await store.ledger({})).toEqual([row]);
        const usage = await store.usage('discord', 'guild-1', 'alice', NOW);
        expect(usage.reserved).toEqual({ requests: 0, tokens: 0, usd: 0 });
        expect(usage.day).toEqual({ requests: 1, tokens: 150, usd: 0.25 });
      });

      it('keeps the cached prompt tokens of a row (0 when none), newest first on request', async () => {
        await store.settle(null, entry({ requestId: 'first', tokensIn: 12_000, tokensCached: 10_000 }));
        const { tokensCached: _omitted, ...withoutCached } = entry({ requestId: 'second', at: new Date(NOW.getTime() + 1000) });
        await store.settle(null, withoutCached);
        const rows = await store.ledger({ newestFirst: true });
        expect(rows.map((r) => [r.requestId, r.tokensCached])).toEqual([
          ['second', 0],
          ['first', 10_000],
        ]);
        const died = entry({ requestId: 'late', outcome: 'interrupted', errorKind: 'process-died', tokensIn: 0, tokensCached: 0 });
        await store.settle(null, died);
        await store.settle(null, entry({ requestId: 'late', tokensIn: 500, tokensCached: 400 }));
        expect((await store.ledger({})).find((r) => r.requestId === 'late')?.tokensCached).toBe(400);
      });

      it('settles many at once into one row each', async () => {
        const rows = Array.from({ length: 30 }, (_, i) => entry({ requestId: `r-${i % 10}` }));
        await Promise.all(rows.map((r) => store.settle(null, r)));
        expect(await store.ledger({})).toHaveLength(10);
        const usage = await store.usage('discord', 'guild-1', 'alice', NOW);
        expect(usage.day).toEqual({ requests: 10, tokens: 1500, usd: 2.5 });
        expect(usage.month).toEqual(usage.day);
      });

      it('counts failed, cancelled and interrupted outcomes but not refused ones', async () => {
        await store.settle(null, entry({ outcome: 'error', errorKind: 'timeout', costUsd: 0.1 }));
        await store.settle(null, entry({ outcome: 'cancelled', costUsd: 0.1 }));
        await store.settle(null, entry({ outcome: 'interrupted', costUsd: 0.1 }));
        await store.settle(null, entry({ outcome: 'refused', errorKind: 'requests-per-day', costUsd: 5 }));
        const usage = await store.usage('discord', 'guild-1', 'alice', NOW);
        expect(usage.day.requests).toBe(3);
        expect(usage.day.usd).toBeCloseTo(0.3, 9);
        expect(await store.reserve(request({ limits: { requestsPerDay: 3 } }))).toMatchObject({ ok: false, used: 3 });
        expect(await store.ledger({})).toHaveLength(4);
      });

      it('keeps the pictures an answer returned (images_out, migration 9), also when a late settle replaces a swept row', async () => {
        const drew = entry({ requestId: 'drew', imagesOut: 3, costUsd: 0.04 });
        await store.settle(null, drew);
        const died = entry({ requestId: 'late-pic', outcome: 'interrupted', errorKind: 'process-died', modelAnswered: null, tokensIn: 0, tokensOut: 0, costUsd: 0, generationId: null });
        const real = entry({ requestId: 'late-pic', at: new Date(NOW.getTime() + 5_000), imagesOut: 2 });
        await store.settle(null, died);
        await store.settle(null, real);
        const rows = await store.ledger({});
        expect(rows.find((r) => r.requestId === 'drew')).toEqual(drew);
        expect(rows.find((r) => r.requestId === 'late-pic')?.imagesOut).toBe(2);
      });

      it('a late real settle replaces the interrupted row of a process swept while alive, still one row per request', async () => {
        const died = entry({ requestId: 'late', at: NOW, outcome: 'interrupted', errorKind: 'process-died', modelAnswered: null, tokensIn: 0, tokensOut: 0, costUsd: 0, generationId: null });
        const real = entry({ requestId: 'late', at: new Date(NOW.getTime() + 5_000), tokensIn: 300, tokensOut: 200, costUsd: 0.75, webSearchRequests: 2 });
        await store.settle(null, died);
        await store.settle(null, real);
        // Its real usage, at the time the row was first written (the usage windows it was counted in).
        expect(await store.ledger({})).toEqual([{ ...real, at: NOW }]);
        const usage = await store.usage('discord', 'guild-1', 'alice', NOW);
        expect(usage.day).toEqual({ requests: 1, tokens: 500, usd: 0.75 });
        expect((await store.usage('discord', 'guild-1', undefined, NOW)).month).toEqual({ requests: 1, tokens: 500, usd: 0.75 });
        // Replaced once: a repeated real settle (a retry) changes nothing more.
        await store.settle(null, { ...real, costUsd: 9 });
        expect(await store.ledger({})).toEqual([{ ...real, at: NOW }]);
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).day).toEqual({ requests: 1, tokens: 500, usd: 0.75 });
      });

      it('an interrupted row never replaces a real one, nor another interrupted one', async () => {
        const real = entry({ requestId: 'first-real' });
        const died = (requestId: string) =>
          entry({ requestId, outcome: 'interrupted', errorKind: 'process-died', modelAnswered: null, tokensIn: 0, tokensOut: 0, costUsd: 0, generationId: null });
        await store.settle(null, real);
        await store.settle(null, died('first-real'));
        await store.settle(null, died('twice'));
        await store.settle(null, { ...died('twice'), at: new Date(NOW.getTime() + 1) });
        expect(await store.ledger({})).toEqual([real, died('twice')].map((row) => ({ ...row, requestId: row.requestId })));
        expect((await store.usage('discord', 'guild-1', 'alice', NOW)).day).toEqual({ requests: 2, tokens: 150, usd: 0.25 });
      });
    });

    describe('stop requests (Stop pressed on another process)', () => {
      const tracked = (requestId: string, owner: string, userId = 'alice'): ActiveAnswer => ({
        requestId,
        platform: 'discord',
        workspaceId: 'guild-1',
        channelId: 'chan-1',
        userId,
        model: 'openai/gpt-4o-mini',
        owner,
        startedAt: NOW,
        messageRef: null,
        messageBody: null,
      });

      it('finds tracked answers by workspace, user or request', async () => {
        await store.trackAnswer(tracked('a-1', 'proc-a'));
        await store.trackAnswer(tracked('a-2', 'proc-b'));
        await store.trackAnswer(tracked('b-1', 'proc-a', 'bob'));
        await store.trackAnswer({ ...tracked('elsewhere', 'proc-a'), workspaceId: 'guild-2' });
        const ids = (answers: ActiveAnswer[]) => answers.map((a) => a.requestId).sort();
        expect(ids(await store.activeAnswers({ platform: 'discord', workspaceId: 'guild-1' }))).toEqual(['a-1', 'a-2', 'b-1']);
        expect(ids(await store.activeAnswers({ platform: 'discord', workspaceId: 'guild-1', userId: 'alice' }))).toEqual(['a-1', 'a-2']);
        expect(await store.activeAnswers({ platform: 'discord', workspaceId: 'guild-1', requestId: 'b-1' })).toEqual([tracked('b-1', 'proc-a', 'bob')]);
        expect(await store.activeAnswers({ platform: 'slack', workspaceId: 'guild-1', requestId: 'b-1' })).toEqual([]);
      });

      it('hands each owner the requests for its own answers, once; the first request wins', async () => {
        await store.trackAnswer(tracked('a-1', 'proc-a'));
        await store.trackAnswer(tracked('a-2', 'proc-a'));
        await store.trackAnswer(tracked('b-1', 'proc-b'));
        expect(await store.takeStopRequests('proc-a')).toEqual([]);
        await store.requestStops(['a-1', 'b-1'], 'Wanda');
        await store.requestStops(['a-1'], 'Someone later');
        expect(await store.takeStopRequests('proc-a')).toEqual([{ requestId: 'a-1', requestedBy: 'Wanda' }]);
        expect(await store.takeStopRequests('proc-a')).toEqual([]);
        expect(await store.takeStopRequests('proc-b')).toEqual([{ requestId: 'b-1', requestedBy: 'Wanda' }]);
        await store.requestStops([], 'nobody');
      });

      itShared('a request made through one instance reaches the owner through another', async () => {
        const other = await second();
        await store.trackAnswer(tracked('a-1', 'proc-a'));
        await other.requestStops(['a-1'], 'Bob');
        expect(await store.takeStopRequests('proc-a')).toEqual([{ requestId: 'a-1', requestedBy: 'Bob' }]);
      });
    });

    describe('usage and ledger', () => {
      it('gives user and workspace snapshots with live reservations included', async () => {
        await store.settle(null, entry({ tokensIn: 10, tokensOut: 5, costUsd: 0.5 }));
        await store.settle(null, entry({ tokensIn: 1, tokensOut: 1, costUsd: 1, at: new Date('2024-05-03T00:00:00Z') }));
        await store.settle(null, entry({ userId: 'bob', tokensIn: 7, tokensOut: 3, costUsd: 2 }));
        await store.reserve(request({ estimate: { tokens: 40, usd: 0.25 } }));
        await store.reserve(request({ user: bob, estimate: { tokens: 60, usd: 0.75 } }));

        expect(await store.usage('discord', 'guild-1', 'alice', NOW)).toEqual({
          day: { requests: 2, tokens: 55, usd: 0.75 },
          month: { requests: 3, tokens: 57, usd: 1.75 },
          reserved: { requests: 1, tokens: 40, usd: 0.25 },
          dayResetsAt: NEXT_MIDNIGHT,
          monthResetsAt: NEXT_MONTH,
        });
        expect(await store.usage('discord', 'guild-1', undefined, NOW)).toEqual({
          day: { requests: 4, tokens: 125, usd: 3.5 },
          month: { requests: 5, tokens: 127, usd: 4.5 },
          reserved: { requests: 2, tokens: 100, usd: 1 },
          dayResetsAt: NEXT_MIDNIGHT,
          monthResetsAt: NEXT_MONTH,
        });
        expect(await store.usage('slack', 'guild-1', undefined, NOW)).toMatchObject({
          day: { requests: 0, tokens: 0, usd: 0 },
          reserved: { requests: 0, tokens: 0, usd: 0 },
        });
      });

      it('returns ledger rows in time order with filters and a limit', async () => {
        const t = (iso: string) => new Date(iso);
        const rows = [
          entry({ requestId: 'c', at: t('2024-05-15T10:00:00Z') }),
          entry({ requestId: 'a', at: t('2024-05-14T10:00:00Z'), modelAnswered: null, generationId: null }),
          entry({ requestId: 'd', at: t('2024-05-16T10:00:00Z'), userId: 'bob', costUsd: 0.000123 }),
          entry({ requestId: 'b', at: t('2024-05-15T09:00:00Z'), platform: 'slack', workspaceId: 'T1' }),
          entry({ requestId: 'e', at: t('2024-05-15T10:00:00Z'), outcome: 'refused', errorKind: 'usd-per-day' }),
        ];
        for (const row of rows) await store.settle(null, row);
        const ids = (list: LedgerEntry[]) => list.map((r) => r.requestId);

        expect(ids(await store.ledger({}))).toEqual(['a', 'b', 'c', 'e', 'd']);
        expect(await store.ledger({ userId: 'bob' })).toEqual([rows[2]]);
        expect((await store.ledger({})).find((r) => r.requestId === 'a')).toEqual(rows[1]);
        expect(ids(await store.ledger({ platform: 'discord', workspaceId: 'guild-1', userId: 'alice' }))).toEqual([
          'a',
          'c',
          'e',
        ]);
        expect(ids(await store.ledger({ from: t('2024-05-15T00:00:00Z'), to: t('2024-05-16T00:00:00Z') }))).toEqual([
          'b',
          'c',
          'e',
        ]);
        expect(ids(await store.ledger({ from: t('2024-05-15T09:00:00Z'), limit: 2 }))).toEqual(['b', 'c']);
        expect(await store.ledger({ platform: 'console' })).toEqual([]);
      });

      it('sums the ledger per group, most expensive first, without refused rows', async () => {
        const t = (iso: string) => new Date(iso);
        const rows = [
          entry({ at: t('2024-05-15T10:00:00Z'), costUsd: 0.5, tokensIn: 10, tokensOut: 5, channelId: 'chan-1' }),
          entry({ at: t('2024-05-15T11:00:00Z'), costUsd: 0.25, tokensIn: 20, tokensOut: 10, channelId: 'chan-2', modelAnswered: null, modelRequested: 'x/fallback' }),
          entry({ at: t('2024-05-15T12:00:00Z'), userId: 'bob', costUsd: 1.5, tokensIn: 1, tokensOut: 2, modelAnswered: 'big/model' }),
          entry({ at: t('2024-05-15T12:30:00Z'), userId: 'bob', outcome: 'refused', errorKind: 'quota', costUsd: 0, tokensIn: 0, tokensOut: 0 }),
          entry({ at: t('2024-05-15T13:00:00Z'), userId: 'carol', costUsd: 0, outcome: 'interrupted' }),
          entry({ at: t('2024-04-30T23:59:59Z'), userId: 'dave', costUsd: 9 }),
          entry({ at: t('2024-05-15T10:00:00Z'), workspaceId: 'guild-2', userId: 'erin', costUsd: 7 }),
        ];
        for (const row of rows) await store.settle(null, row);
        const may = { platform: 'discord', workspaceId: 'guild-1', from: t('2024-05-01T00:00:00Z'), to: t('2024-06-01T00:00:00Z') };

        const users = await store.ledgerTotals({ ...may, groupBy: ['userId'] });
        expect(users).toEqual([
          { group: { userId: 'bob' }, requests: 1, tokensIn: 1, tokensOut: 2, costUsd: 1.5 },
          { group: { userId: 'alice' }, requests: 2, tokensIn: 30, tokensOut: 15, costUsd: 0.75 },
          { group: { userId: 'carol' }, requests: 1, tokensIn: 100, tokensOut: 50, costUsd: 0 },
        ]);
        expect((await store.ledgerTotals({ ...may, groupBy: ['userId'], limit: 1 })).map((r) => r.group.userId)).toEqual(['bob']);
        const models = await store.ledgerTotals({ ...may, groupBy: ['model'] });
        expect(models.map((r) => [r.group.model, r.requests])).toEqual([
          ['big/model', 1],
          ['openai/gpt-4o-mini-2024-07-18', 2],
          ['x/fallback', 1],
        ]);
        const channels = await store.ledgerTotals({ ...may, groupBy: ['channelId'] });
        expect(channels.map((r) => [r.group.channelId, r.costUsd])).toEqual([
          ['chan-1', 2],
          ['chan-2', 0.25],
        ]);
        const all = await store.ledgerTotals({ groupBy: ['workspaceId', 'userId', 'model'] });
        expect(all[0]).toEqual({ group: { workspaceId: 'guild-1', userId: 'dave', model: 'openai/gpt-4o-mini-2024-07-18' }, requests: 1, tokensIn: 100, tokensOut: 50, costUsd: 9 });
        expect(all).toHaveLength(6);
        expect(await store.ledgerTotals({ ...may, platform: 'slack', groupBy: ['userId'] })).toEqual([]);
      });
    });

    describe('events, conversation resets and meta', () => {
      it('gives an event to its first claimer only, until the claim expires', async () => {
        expect(await store.claimEvent('evt-1', NOW, 60_000)).toBe(true);
        expect(await store.claimEvent('evt-1', NOW, 60_000)).toBe(false);
        expect(await store.claimEvent('evt-1', new Date(NOW.getTime() + 59_999), 60_000)).toBe(false);
        expect(await store.claimEvent('evt-2', NOW, 60_000)).toBe(true);
        expect(await store.claimEvent('evt-1', new Date(NOW.getTime() + 60_000), 60_000)).toBe(true);
        expect(await store.claimEvent('evt-1', new Date(NOW.getTime() + 60_001), 60_000)).toBe(false);
        // Purged with the reservations; then claimable again.
        await store.expireReservations(new Date(NOW.getTime() + 10 * 60_000));
        expect(await store.claimEvent('evt-2', new Date(NOW.getTime() + 10 * 60_000), 60_000)).toBe(true);
      });

      it('claims several ids in one go: all new is a claim, any one taken is a duplicate', async () => {
        expect(await store.claimEvents(['a', 'b'], NOW, 60_000)).toBe(true);
        expect(await store.claimEvents(['b', 'c'], NOW, 60_000)).toBe(false);
        // c was free and is now held: the duplicate's ids all count as seen.
        expect(await store.claimEvent('c', NOW, 60_000)).toBe(false);
        expect(await store.claimEvents(['d', 'd'], NOW, 60_000)).toBe(true);
        expect(await store.claimEvents([], NOW, 60_000)).toBe(true);
        // Expired claims are taken over, all at once.
        expect(await store.claimEvents(['a', 'b'], new Date(NOW.getTime() + 60_000), 60_000)).toBe(true);
      });

      it('gives one simultaneous claim to one caller', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => store.claimEvent('evt-x', NOW, 60_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      itShared('gives an event to one of two instances claiming at once', async () => {
        const other = await second();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).claimEvent('evt-y', NOW, 60_000)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('stores conversation resets', async () => {
        expect(await store.getConversationReset('discord:chan-1')).toBeUndefined();
        await store.setConversationReset('discord:chan-1', NOW);
        expect(await store.getConversationReset('discord:chan-1')).toEqual(NOW);
        const later = new Date('2030-01-01T00:00:00.001Z');
        await store.setConversationReset('discord:chan-1', later);
        expect(await store.getConversationReset('discord:chan-1')).toEqual(later);
        expect(await store.getConversationReset('discord:chan-2')).toBeUndefined();
      });

      it('the latest reset among several keys wins', async () => {
        expect(await store.getConversationResets([])).toBeUndefined();
        expect(await store.getConversationResets(['discord:chan-1', 'discord:thread-1'])).toBeUndefined();
        const earlier = new Date('2024-05-15T08:00:00.000Z');
        const latest = new Date('2024-05-15T09:30:00.001Z');
        await store.setConversationReset('discord:chan-1', latest);
        await store.setConversationReset('discord:thread-1', earlier);
        await store.setConversationReset('discord:elsewhere', new Date('2030-01-01T00:00:00Z'));
        expect(await store.getConversationResets(['discord:thread-1', 'discord:chan-1', 'discord:unset'])).toEqual(latest);
        expect(await store.getConversationResets(['discord:thread-1', 'discord:unset'])).toEqual(earlier);
        expect(await store.getConversationResets(['discord:unset', 'discord:unset'])).toBeUndefined();
        // getConversationReset is unchanged: one key, its own reset.
        expect(await store.getConversationReset('discord:thread-1')).toEqual(earlier);
        // Any number of keys, answered the same.
        const many = Array.from({ length: 600 }, (_, i) => `discord:k-${i}`);
        expect(await store.getConversationResets([...many, 'discord:thread-1'])).toEqual(earlier);
      });

      it('stores meta values', async () => {
        expect(await store.getMeta('commands-hash')).toBeUndefined();
        await store.setMeta('commands-hash', 'abc');
        await store.setMeta('commands-hash', 'def');
        await store.setMeta('empty', '');
        expect(await store.getMeta('commands-hash')).toBe('def');
        expect(await store.getMeta('empty')).toBe('');
      });

      it('reports its kind and answers ping', async () => {
        expect(['sqlite', 'postgres']).toContain(store.kind);
        await store.ping();
      });
    });

    describe('answer records', () => {
      const record = (messageId: string, over: Partial<AnswerRecord> = {}): AnswerRecord => ({
        platform: 'discord',
        channelId: 'chan-1',
        messageId,
        requestId: 'req-1',
        kind: 'answer',
        text: `answer text of ${messageId}`,
        askerId: 'alice',
        askerName: 'Alice',
        prompt: 'what is it?',
        at: NOW,
        ...over,
      });

      it('answer records: are read back as written, nulls and all, in the order asked', async () => {
        const question = record('q-1', {
          requestId: null,
          kind: 'question',
          text: 'Why is the sky blue? — «ünïcode» 🌈\nsecond line',
          prompt: null,
          askerName: null,
        });
        const part1 = record('m-1', { text: 'First part.' });
        const part2 = record('m-2', { text: 'Second part.', askerId: null, at: new Date(NOW.getTime() + 1) });
        await store.recordAnswerMessages([question, part1, part2]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-2', 'q-1', 'm-1'])).toEqual([part2, question, part1]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1'])).toEqual([part1]);
      });

      it('answer records: a later record of the same message replaces the earlier', async () => {
        await store.recordAnswerMessages([record('m-1', { text: 'draft', prompt: 'p' })]);
        const edited = record('m-1', {
          requestId: 'req-2',
          text: 'final',
          askerId: 'bob',
          askerName: null,
          prompt: null,
          at: new Date(NOW.getTime() + 5_000),
        });
        await store.recordAnswerMessages([edited]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1'])).toEqual([edited]);
        // Within one call as well: the last of the same message wins.
        const last = record('m-2', { text: 'third' });
        await store.recordAnswerMessages([record('m-2', { text: 'first' }), record('m-3'), record('m-2', { text: 'second' }), last]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-2', 'm-3'])).toEqual([last, record('m-3')]);
      });

      it('answer records keep a parsed PDF\'s file annotations (migration 8), and a re-record without them drops them', async () => {
        const annotations = [{ type: 'file', file: { hash: 'abc123', name: 'spec.pdf', content: [{ type: 'text', text: 'Parsed «ünïcode» text' }] } }];
        const withFiles = record('m-1', { annotations });
        await store.recordAnswerMessages([withFiles, record('m-2')]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1', 'm-2'])).toEqual([withFiles, record('m-2')]);
        await store.recordAnswerMessages([record('m-1', { text: 'edited' })]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1'])).toEqual([record('m-1', { text: 'edited' })]);
      });

      it("answer records keep an /ask option's files (migration 13), and a re-record without them drops them", async () => {
        const promptFiles = [
          { id: 'discord:111', name: 'ui «ü».png', mime: 'image/png', size: 2048, url: 'https://cdn.example/attachments/1/111/ui.png?ex=1&sig=2' },
          { id: 'discord:112', name: 'notes.txt', size: 10, url: 'https://cdn.example/attachments/1/112/notes.txt' },
        ];
        const withFiles = record('m-1', { promptFiles });
        await store.recordAnswerMessages([withFiles, record('m-2')]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1', 'm-2'])).toEqual([withFiles, record('m-2')]);
        await store.recordAnswerMessages([record('m-1', { text: 'edited' })]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1'])).toEqual([record('m-1', { text: 'edited' })]);
      });

      it('answer records are per channel: the same message id in another channel is another message', async () => {
        const here = record('m-1', { text: 'here' });
        const there = record('m-1', { channelId: 'chan-2', text: 'there' });
        const slack = record('m-1', { platform: 'slack', text: 'on slack' });
        await store.recordAnswerMessages([here, there, slack]);
        expect(await store.answerRecords('discord', 'chan-1', ['m-1'])).toEqual([here]);
        expect(await store.answerRecords('discord', 'chan-2', ['m-1'])).toEqual([there]);
        expect(await store.answerRecords('slack', 'chan-1', ['m-1'])).toEqual([slack]);
        expect(await store.answerRecords('slack', 'chan-2', ['m-1'])).toEqual([]);
      });

      it('answer records: missing messages are simply absent, and no ids read nothing', async () => {
        await store.recordAnswerMessages([]);
        await store.recordAnswerMessages([record('m-1')]);
        expect(await store.answerRecords('discord', 'chan-1', [])).toEqual([]);
        expect(await store.answerRecords('discord', 'chan-1', ['nope', 'm-1', 'm-1', 'other'])).toEqual([record('m-1')]);
        expect(await store.answerRecords('discord', 'chan-1', ['nope'])).toEqual([]);
      });

      it('answer records: hundreds of messages are written and read in one call each', async () => {
        const records = Array.from({ length: 400 }, (_, i) =>
          record(`m-${i}`, { requestId: `req-${Math.floor(i / 4)}`, at: new Date(NOW.getTime() + i) }),
        );
        await store.recordAnswerMessages(records);
        const ids = records.map((r) => r.messageId);
        expect(await store.answerRecords('discord', 'chan-1', ids)).toEqual(records);
        // Every length between reads right (the id lists are padded to a few shapes).
        for (const n of [1, 2, 3, 5, 63, 64, 65, 129, 399]) {
          expect(await store.answerRecords('discord', 'chan-1', ids.slice(0, n))).toEqual(records.slice(0, n));
        }
        // Past the 400 the history asks for, and mixed with ids that are not there.
        const wanted = [...ids.map((id) => `gone-${id}`), ...ids].reverse();
        expect(await store.answerRecords('discord', 'chan-1', wanted)).toEqual([...records].reverse());
      });

      it('answer records: pruning deletes only the records older than the cutoff', async () => {
        const t = (ms: number) => new Date(NOW.getTime() + ms);
        await store.recordAnswerMessages([
          record('old-1', { at: t(-2 * HOUR) }),
          record('old-2', { channelId: 'chan-2', at: t(-1) }),
          record('edge', { at: t(0) }),
          record('new', { at: t(HOUR) }),
        ]);
        expect(await store.pruneAnswerRecords(NOW)).toBe(2);
        expect(await store.pruneAnswerRecords(NOW)).toBe(0);
        expect((await store.answerRecords('discord', 'chan-1', ['old-1', 'edge', 'new'])).map((r) => r.messageId)).toEqual([
          'edge',
          'new',
        ]);
        expect(await store.answerRecords('discord', 'chan-2', ['old-2'])).toEqual([]);
      });
    });

    describe('crash recovery: heartbeats and active answers', () => {
      /** Staleness is measured by the database's clock, so these tests wait for real. */
      const STALE = 150;
      const goStale = () => new Promise((r) => setTimeout(r, STALE + 60));
      const later = (ms: number) => new Date(NOW.getTime() + ms);
      const active = (requestId: string, owner: string, over: Partial<ActiveAnswer> = {}): ActiveAnswer => ({
        requestId,
        platform: alice.platform,
        workspaceId: alice.workspaceId,
        channelId: 'chan-1',
        userId: alice.userId,
        model: 'openai/gpt-4o-mini',
        owner,
        startedAt: NOW,
        messageRef: null,
        messageBody: null,
        ...over,
      });
      /** A reserved, tracked answer of `owner`, as the pipeline leaves it while streaming. */
      async function running(requestId: string, owner: string, user = alice): Promise<void> {
        expect((await store.reserve(request({ id: requestId, owner, user }))).ok).toBe(true);
        await store.trackAnswer(active(requestId, owner, { userId: user.userId }));
      }

      it('hands a dead owner\'s answers to the sweeper once, with their refs, and frees its reservations', async () => {
        await store.heartbeat('dead');
        await store.heartbeat('alive');
        await running('r-1', 'dead');
        await running('r-2', 'dead', bob);
        await running('r-3', 'alive');
        await store.setAnswerMessageRef('r-1', '{"m":1}');
        await store.setAnswerMessageRef('r-1', '{"m":2}');
        // Not stale yet: nothing to take.
        expect(await store.takeOrphanedAnswers(60_000, 'sweeper')).toEqual([]);
        await goStale();
        await store.heartbeat('alive');
        const taken = await store.takeOrphanedAnswers(STALE, 'sweeper');
        expect(taken).toEqual([
          active('r-1', 'sweeper', { messageRef: '{"m":2}' }),
          active('r-2', 'sweeper', { userId: 'bob' }),
        ]);
        // Reservations of the dead owner are gone at once; the live one's stays.
        const usage = await store.usage('discord', 'guild-1', undefined, later(STALE + 1));
        expect(usage.reserved.requests).toBe(1);
        // Taken once: a second sweep (or another sweeper) finds nothing.
        expect(await store.takeOrphanedAnswers(STALE, 'other-sweeper')).toEqual([]);
      });

      it('never takes its own answers or those of an owner with no heartbeat', async () => {
        await store.heartbeat('me');
        await running('mine', 'me');
        await running('unknown', 'never-beat');
        await goStale();
        expect(await store.takeOrphanedAnswers(STALE, 'me')).toEqual([]);
        expect((await store.usage('discord', 'guild-1', undefined, later(1))).reserved.requests).toBe(2);
      });

      it('settle removes the tracked answer in the same transaction', async () => {
        await store.heartbeat('dead');
        await goStale();
        await running('finished', 'dead');
        await running('half', 'dead');
        await store.settle('finished', entry({ requestId: 'finished' }));
        const taken = await store.takeOrphanedAnswers(STALE, 'sweeper');
        expect(taken.map((a) => a.requestId)).toEqual(['half']);
        await store.settle('half', entry({ requestId: 'half', outcome: 'interrupted', errorKind: 'process-died', tokensIn: 0, tokensOut: 0, costUsd: 0 }));
        expect((await store.ledger({})).map((row) => [row.requestId, row.outcome])).toEqual([
          ['finished', 'ok'],
          ['half', 'interrupted'],
        ]);
      });

      it('gives answers a sweeper took and did not settle to the next sweeper once it dies', async () => {
        await store.heartbeat('dead');
        await running('r-1', 'dead');
        await goStale();
        await store.heartbeat('sweeper-1');
        expect(await store.takeOrphanedAnswers(STALE, 'sweeper-1')).toHaveLength(1);
        // sweeper-1 dies before settling; its heartbeat goes stale in turn.
        await goStale();
        const taken = await store.takeOrphanedAnswers(STALE, 'sweeper-2');
        expect(taken.map((a) => [a.requestId, a.owner])).toEqual([['r-1', 'sweeper-2']]);
      });

      it('ignores a ref for an answer that is no longer tracked, and a repeated track', async () => {
        await store.setAnswerMessageRef('nope', '{}');
        await store.heartbeat('dead');
        await goStale();
        await store.trackAnswer(active('r-1', 'dead'));
        await store.trackAnswer(active('r-1', 'dead', { channelId: 'other' }));
        const taken = await store.takeOrphanedAnswers(STALE, 'sweeper');
        expect(taken.map((a) => a.channelId)).toEqual(['chan-1']);
      });

      it('setAnswerProgress keeps the clean body for the sweeper', async () => {
        await store.heartbeat('dead');
        await goStale();
        await running('r-1', 'dead');
        await running('r-2', 'dead');
        await running('r-3', 'dead');
        await store.trackAnswer(active('r-4', 'dead', { messageRef: '{"m":4}', messageBody: 'tracked with a body' }));
        await store.setAnswerProgress('r-1', '{"m":1}', 'The answer so');
        await store.setAnswerProgress('r-1', '{"m":1}', 'The answer so far, «clean» 🌈');
        await store.setAnswerMessageRef('r-2', '{"m":2}');
        await store.setAnswerProgress('r-3', '{"m":3}', 'body');
        // A later ref alone keeps the body it had.
        await store.setAnswerMessageRef('r-3', '{"m":3b}');
        // Not tracked (or settled already): nothing happens.
        await store.setAnswerProgress('gone', '{}', 'lost');
        const taken = await store.takeOrphanedAnswers(STALE, 'sweeper');
        expect(taken.map((a) => [a.requestId, a.messageRef, a.messageBody])).toEqual([
          ['r-1', '{"m":1}', 'The answer so far, «clean» 🌈'],
          ['r-2', '{"m":2}', null],
          ['r-3', '{"m":3b}', 'body'],
          ['r-4', '{"m":4}', 'tracked with a body'],
        ]);
        expect(taken[0]).toEqual(active('r-1', 'sweeper', { messageRef: '{"m":1}', messageBody: 'The answer so far, «clean» 🌈' }));
      });

      it('setAnswerProgress after settle leaves nothing behind', async () => {
        await store.heartbeat('dead');
        await goStale();
        await running('r-1', 'dead');
        await store.settle('r-1', entry({ requestId: 'r-1' }));
        await store.setAnswerProgress('r-1', '{"m":1}', 'late');
        expect(await store.takeOrphanedAnswers(STALE, 'sweeper')).toEqual([]);
      });

      itShared('lets one of two sweepers on one database take each answer', async () => {
        const other = await second();
        await store.heartbeat('dead');
        await goStale();
        for (let i = 0; i < 20; i++) await running(`r-${i}`, 'dead');
        const [a, b] = await Promise.all([
          store.takeOrphanedAnswers(STALE, 'sweeper-a'),
          other.takeOrphanedAnswers(STALE, 'sweeper-b'),
        ]);
        const ids = [...a, ...b].map((x) => x.requestId).sort();
        expect(ids).toHaveLength(20);
        expect(new Set(ids).size).toBe(20);
        expect((await other.usage('discord', 'guild-1', undefined, later(STALE + 1))).reserved.requests).toBe(0);
      });

      it('heartbeats are stamped with the database clock, not a caller\'s', async () => {
        const before = Date.now();
        await store.heartbeat('me');
        await store.heartbeat('dead');
        await running('r-1', 'dead');
        // Recent by the database's clock: no staleness window of a minute sees it as dead.
        expect(await store.takeOrphanedAnswers(60_000, 'me')).toEqual([]);
        await goStale();
        await store.heartbeat('me');
        expect((await store.takeOrphanedAnswers(STALE, 'me')).map((a) => a.requestId)).toEqual(['r-1']);
        // The database and this test share a host here: its clock is ours, give or take.
        expect(Date.now() - before).toBeLessThan(60_000);
      });
    });
  });
}
