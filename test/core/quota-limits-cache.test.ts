/**
 * QuotaService keeps each user's effective limits between answers, so the
 * quota check costs one statement, not a read and a statement. The cache is
 * never enforced stale: a reserve carries the workspace's limits version and
 * the store refuses to reserve on an old one, so a limit changed through any
 * process (another store instance on the same database here) holds from the
 * very next request. Real SQLite (a file two instances share) and PostgreSQL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.ts';
import { QuotaService } from '../../src/core/quota.ts';
import type { ModelInfo } from '../../src/llm/types.ts';
import type { LedgerEntry, Store, UserKey } from '../../src/store/types.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { postgresDatabase, sqliteFileDatabase, type MakeTestDatabase, type TestDatabase } from '../store/harness.ts';

const DEFAULTS: Config['quota'] = {
  requestsPerDay: 100,
  tokensPerDay: null,
  usdPerDay: null,
  usdPerMonth: null,
  serverUsdPerMonth: null,
  dmUsdPerMonth: null,
  maxConcurrent: 50,
  reservationTtlMs: 600_000,
};

const MODEL: ModelInfo = {
  id: 'acme/model',
  name: 'Acme',
  contextLength: 128_000,
  pricing: { prompt: 0.000001, completion: 0.000002, request: 0 },
  supportedParameters: [],
  isFree: false,
};

const alice: UserKey = { platform: 'discord', workspaceId: 'guild-1', userId: 'alice' };

function settled(requestId: string, user: UserKey): LedgerEntry {
  return {
    requestId,
    at: new Date(),
    platform: user.platform,
    workspaceId: user.workspaceId,
    channelId: 'c1',
    userId: user.userId,
    modelRequested: MODEL.id,
    modelAnswered: MODEL.id,
    tokensIn: 10,
    tokensOut: 10,
    costUsd: 0.00003,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
  };
}

/** Counts the limit reads a QuotaService makes through this store. */
function countingReads(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const counted: Store = Object.create(store) as Store;
  counted.getQuotaLimitSet = (...args) => {
    reads += 1;
    return store.getQuotaLimitSet(...args);
  };
  return { store: counted, reads: () => reads };
}

const backends: Array<[string, MakeTestDatabase | undefined]> = [
  ['sqlite file', sqliteFileDatabase],
  ['postgres', (() => {
    const url = postgresTestUrl('the quota limits cache');
    return url === undefined ? undefined : postgresDatabase(url);
  })()],
];

for (const [name, make] of backends) {
  describe.skipIf(make === undefined)(`QuotaService limits cache: ${name}`, () => {
    let database: TestDatabase;
    afterEach(async () => {
      await database?.dispose();
    });

    async function twoProcesses() {
      database = await make!();
      const here = await database.open();
      await here.migrate();
      const there = await database.open();
      await there.migrate();
      const counted = countingReads(here);
      let seq = 0;
      const quota = new QuotaService(counted.store, DEFAULTS, 'proc-a');
      const ask = async (user: UserKey = alice, roleIds: string[] = []) => {
        const requestId = `${name}-${++seq}`;
        await quota.reserve({ requestId, user, channelId: 'c1', model: MODEL.id, modelInfo: MODEL, promptTokens: 10, maxTokens: 10, roleIds });
        return requestId;
      };
      /** A request answered and settled (its reservation freed). */
      const answer = async () => {
        const requestId = await ask();
        await quota.settle(requestId, settled(requestId, alice));
      };
      return { ask, answer, there, reads: counted.reads };
    }

    it('reads the limits once, then holds a limit changed through another process from the very next request', async () => {
      const { ask, answer, there, reads } = await twoProcesses();
      await answer();
      await answer();
      expect(reads()).toBe(1);

      // Another process lowers alice's daily requests to what she has used: the next request is refused, on the new limit.
      await there.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'alice' }, 'requests-per-day', 2);
      const refused = ask();
      await expect(refused).rejects.toMatchObject({ code: 'quota' });
      await expect(refused).rejects.toThrow(/2 used of 2/);
      expect(reads()).toBe(2);

      // Raised again elsewhere: allowed at once, and the fresh limits are kept again.
      await there.setQuotaLimit('discord', 'guild-1', { kind: 'user', userId: 'alice' }, 'requests-per-day', 3);
      await answer();
      // Refused on the kept limits (they are current): no read.
      await expect(ask()).rejects.toThrow(/3 used of 3/);
      expect(reads()).toBe(3);
    });

    it('keeps limits per user and roles, and a change to a tier reaches its members', async () => {
      const { ask, there, reads } = await twoProcesses();
      const bob: UserKey = { ...alice, userId: 'bob' };
      await ask(alice, ['r-staff']);
      await ask(bob);
      await ask(alice, ['r-staff']);
      await ask(bob);
      expect(reads()).toBe(2);

      await there.setQuotaLimit('discord', 'guild-1', { kind: 'role', roleId: 'r-staff' }, 'requests-per-day', 2);
      // Alice (staff) now has 2 of 2; bob has no role and keeps the environment's 100.
      await expect(ask(alice, ['r-staff'])).rejects.toThrow(/2 used of 2/);
      await ask(bob);
      // Without the role alice is back on the default.
      await ask(alice);
    });

    it('changes of another workspace leave the cached limits in use', async () => {
      const { ask, there, reads } = await twoProcesses();
      await ask();
      await there.setQuotaLimit('discord', 'guild-2', { kind: 'default' }, 'requests-per-day', 1);
      await there.setQuotaLimit('slack', 'guild-1', { kind: 'default' }, 'requests-per-day', 1);
      await ask();
      await ask();
      expect(reads()).toBe(1);
    });
  });
}
