import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.ts';
import { silentLogger, sqliteFileDatabase, sqliteMemoryDatabase } from './harness.ts';
import { describeFeedbackContract } from './feedback-contract.ts';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract('sqlite file', sqliteFileDatabase);
describeStoreContract('sqlite :memory:', sqliteMemoryDatabase);
describeFeedbackContract('sqlite file', sqliteFileDatabase);
describeFeedbackContract('sqlite :memory:', sqliteMemoryDatabase);

describe('the SQLite statement cache', () => {
  it('answers right when more query shapes pass through than it keeps', async () => {
    const store = await createStore('sqlite::memory:', { logger: silentLogger });
    try {
      await store.migrate();
      const scope = { platform: 'discord', kind: 'channel' as const, id: 'c1' };
      // Each clearSettings with a different number of keys is a new SQL text (`in (?, ?, …)`).
      for (let keys = 1; keys <= 300; keys++) {
        await store.setSetting(scope, `k${keys}`, keys);
        await store.clearSettings(scope, Array.from({ length: keys }, (_, i) => `other${i}`));
      }
      const settings = await store.getSettings(scope);
      expect(Object.keys(settings)).toHaveLength(300);
      expect(settings.k300).toBe(300);
      await store.clearSettings(scope, ['k1', 'k300']);
      expect(await store.getSettings(scope)).not.toHaveProperty('k300');
      expect(Object.keys(await store.getSettings(scope))).toHaveLength(298);
    } finally {
      await store.close();
    }
  });
});
