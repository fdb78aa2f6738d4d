/**
 * Answer feedback, assistant threads and the dashboard queries (migration
 * 11), run against every Store backend like the main contract.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerEntry, Store } from '../../src/store/types.ts';
import type { MakeTestDatabase, TestDatabase } from './harness.ts';

const NOW = new Date('2024-05-15T12:00:00.000Z');
const DAY = 86_400_000;
const MONTH = { platform: 'slack', workspaceId: 'T1', from: new Date('2024-05-01T00:00:00Z'), to: new Date('2024-06-01T00:00:00Z') };

function entry(over: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    requestId: randomUUID(),
    at: NOW,
    platform: 'slack',
    workspaceId: 'T1',
    channelId: 'C1',
    userId: 'U1',
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini',
    tokensIn: 10,
    tokensOut: 5,
    costUsd: 0.5,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
    ...over,
  };
}

export function describeFeedbackContract(name: string, makeDatabase: MakeTestDatabase): void {
  describe(`Store contract (feedback, assistant threads, dashboard): ${name}`, () => {
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

    it('keeps one vote per user per answer (a later press replaces it) and sums them per answering model', async () => {
      const a = entry({ modelAnswered: 'anthropic/claude-3.5-sonnet' });
      const b = entry();
      const elsewhere = entry({ workspaceId: 'T2' });
      const lastMonth = entry({ at: new Date('2024-04-30T23:59:59Z') });
      for (const e of [a, b, elsewhere, lastMonth]) await store.settle(null, e);
      const vote = (requestId: string, userId: string, v: 1 | -1) => store.setFeedback({ platform: 'slack', requestId, userId, vote: v, at: NOW });
      await vote(a.requestId, 'U1', 1);
      await vote(a.requestId, 'U2', 1);
      await vote(a.requestId, 'U2', -1);
      await vote(a.requestId, 'U2', -1);
      await vote(b.requestId, 'U1', 1);
      await vote(elsewhere.requestId, 'U1', -1);
      await vote(lastMonth.requestId, 'U1', -1);
      // A vote for an answer with no ledger row (not settled yet) counts for no model.
      await vote(randomUUID(), 'U1', 1);
      expect(await store.satisfaction(MONTH)).toEqual([
        { model: 'anthropic/claude-3.5-sonnet', up: 1, down: 1 },
        { model: 'openai/gpt-4o-mini', up: 1, down: 0 },
      ]);
    });

    it('stores an assistant thread and its viewed channel, and updates it in place', async () => {
      expect(await store.assistantThread('slack', 'D1', '1.0001')).toBeUndefined();
      const thread = { platform: 'slack', channelId: 'D1', threadTs: '1.0001', userId: 'U1', contextTeamId: 'T1', contextChannelId: 'C1', titled: false, updatedAt: NOW };
      await store.saveAssistantThread(thread);
      expect(await store.assistantThread('slack', 'D1', '1.0001')).toEqual(thread);
      await store.saveAssistantThread({ ...thread, contextChannelId: null, contextTeamId: null, titled: true, updatedAt: new Date(NOW.getTime() + 1000) });
      expect(await store.assistantThread('slack', 'D1', '1.0001')).toMatchObject({ contextChannelId: null, contextTeamId: null, titled: true });
      expect(await store.assistantThread('slack', 'D1', '1.0002')).toBeUndefined();
    });

    it('sums spend per UTC day and model, leaving out refusals, other workspaces and days outside the window', async () => {
      const dayStart = Date.UTC(2024, 4, 15);
      for (const e of [
        entry({ at: new Date(dayStart + 1000), costUsd: 0.25 }),
        entry({ at: new Date(dayStart + DAY - 1), costUsd: 0.5 }),
        entry({ at: new Date(dayStart + DAY), costUsd: 1, modelAnswered: 'x/y' }),
        entry({ at: new Date(dayStart - 1), costUsd: 2, modelAnswered: null, modelRequested: 'a/b' }),
        entry({ at: new Date(dayStart + 5000), outcome: 'refused', costUsd: 0, errorKind: 'quota' }),
        entry({ at: new Date(dayStart + 5000), workspaceId: 'T2' }),
        entry({ at: new Date('2024-06-01T00:00:00Z') }),
      ]) {
        await store.settle(null, e);
      }
      expect(await store.dailySpend(MONTH)).toEqual([
        { day: new Date(dayStart - DAY), model: 'a/b', requests: 1, costUsd: 2 },
        { day: new Date(dayStart), model: 'openai/gpt-4o-mini', requests: 2, costUsd: 0.75 },
        { day: new Date(dayStart + DAY), model: 'x/y', requests: 1, costUsd: 1 },
      ]);
    });

    it("lists a workspace's channels that have settings of their own", async () => {
      await store.setSetting({ platform: 'slack', kind: 'channel', id: 'T1/C1' }, 'model', 'x/y');
      await store.setSetting({ platform: 'slack', kind: 'channel', id: 'T1/C1' }, 'tools', ['calculator']);
      await store.setSetting({ platform: 'slack', kind: 'channel', id: 'T1/C2' }, 'systemPrompt', 'Be brief.');
      await store.setSetting({ platform: 'slack', kind: 'channel', id: 'T10/C3' }, 'model', 'x/y');
      await store.setSetting({ platform: 'slack', kind: 'workspace', id: 'T1' }, 'model', 'x/z');
      await store.setSetting({ platform: 'discord', kind: 'channel', id: 'T1/C4' }, 'model', 'x/y');
      expect(await store.channelsWithSettings('slack', 'T1')).toEqual([
        { channelId: 'C1', keys: ['model', 'tools'] },
        { channelId: 'C2', keys: ['systemPrompt'] },
      ]);
    });
  });
}
