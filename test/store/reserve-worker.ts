/**
 * Child process for cross-process.test.ts: opens the store named in argv,
 * migrates it, says "ready", waits for "go" on stdin so every worker starts
 * together, fires `count` reserves at once and prints how many succeeded.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createStore } from '../../src/store/index.ts';
import { silentLogger } from './harness.ts';

const [url, schema, countText, limitText] = process.argv.slice(2);
const store = await createStore(url, { logger: silentLogger, ...(schema ? { schema } : {}) });
try {
  await store.migrate();
  process.stdout.write('ready\n');
  await once(process.stdin, 'data');
  const results = await Promise.all(
    Array.from({ length: Number(countText) }, () =>
      store.reserve({
        id: randomUUID(),
        user: { platform: 'discord', workspaceId: 'guild-1', userId: 'alice' },
        channelId: 'chan-1',
        limits: { requestsPerDay: Number(limitText), maxConcurrent: null },
        estimate: { tokens: 1, usd: 0.001 },
        now: new Date('2024-05-15T12:00:00.000Z'),
        ttlMs: 3_600_000,
      }),
    ),
  );
  process.stdout.write(`${JSON.stringify({ ok: results.filter((r) => r.ok).length })}\n`);
} finally {
  await store.close();
  process.stdin.destroy();
}
