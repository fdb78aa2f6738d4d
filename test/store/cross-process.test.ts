import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { postgresDatabase, sqliteFileDatabase, type MakeTestDatabase } from './harness.ts';

const workerPath = fileURLToPath(new URL('./reserve-worker.ts', import.meta.url));
const pgUrl = postgresTestUrl('the cross-process store test');

interface Worker {
  child: ChildProcess;
  /** Resolves with each line the worker prints, in order. */
  nextLine(): Promise<string>;
}

function startWorker(args: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', workerPath, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    nextLine: async () => {
      const next = await lines.next();
      if (next.done === true) throw new Error(`worker exited early (code ${String(child.exitCode)})`);
      return next.value;
    },
  };
}

/**
 * Real processes, not two instances in one: the workers migrate the same fresh
 * database at the same time, then start their reserves together on a signal.
 */
function describeCrossProcess(name: string, makeDatabase: MakeTestDatabase) {
  describe(`reserve across processes: ${name}`, () => {
    it('lets exactly 10 of 2 x 100 simultaneous reserves from two processes through', async () => {
      const database = await makeDatabase();
      const workers: Worker[] = [];
      try {
        for (let i = 0; i < 2; i++) workers.push(startWorker([database.url, database.schema ?? '', '100', '10']));
        for (const w of workers) expect(await w.nextLine()).toBe('ready');
        for (const w of workers) w.child.stdin!.write('go\n');
        const oks = await Promise.all(workers.map(async (w) => (JSON.parse(await w.nextLine()) as { ok: number }).ok));
        expect(oks.reduce((a, b) => a + b, 0)).toBe(10);

        const store = await database.open();
        const usage = await store.usage('discord', 'guild-1', 'alice', new Date('2024-05-15T12:00:00.000Z'));
        expect(usage.reserved.requests).toBe(10);
      } finally {
        const running = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
        const exited = running.map((w) => once(w.child, 'exit'));
        for (const w of running) w.child.kill();
        await Promise.all(exited);
        await database.dispose();
      }
    }, 60_000);
  });
}

describeCrossProcess('sqlite file', sqliteFileDatabase);
if (pgUrl !== undefined && pgUrl !== '') describeCrossProcess('postgres', postgresDatabase(pgUrl));
