/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside
 * whichever commit pushes the WAL past 1000 pages: it copies those pages into
 * the database file and fsyncs it, about 4 ms on these machines, and with
 * better-sqlite3 that is 4 ms of blocked event loop every hundred or so
 * transactions (it was the whole p99 of a quota check). So the bot's own
 * connection turns the automatic checkpoint off and a worker thread with its
 * own connection to the same file runs a PASSIVE checkpoint every interval.
 * A passive checkpoint never blocks writers or readers; WAL mode lets it copy
 * committed pages while the bot keeps committing.
 *
 * If the worker cannot start or dies, the caller gets `onFailure` and turns the
 * automatic checkpoint back on, so the WAL never grows without bound.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CheckpointResult {
  /** 1 when the checkpoint could not run to completion (another checkpoint or a reader in the way). */
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Frames copied into the database so far. */
  checkpointed: number;
}

export interface Checkpointer {
  /** Runs one checkpoint now and reports it (tests, and the last one before closing). */
  checkpoint(): Promise<CheckpointResult>;
  /** A last checkpoint, then the worker's connection closes and the thread ends. */
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  path: string;
  intervalMs: number;
  /** The worker failed (could not open the file, crashed, exited): checkpointing is the caller's again. */
  onFailure: (error: Error) => void;
}

/** Plain JavaScript evaluated in the worker, so it runs the same under tsx, vitest and node. */
const WORKER_SOURCE = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const describe = (error) => String((error && error.message) || error);
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
} catch (error) {
  parentPort.postMessage({ type: 'failed', message: describe(error) });
  parentPort.close();
  return;
}
const run = () => {
  const [row] = db.pragma('wal_checkpoint(PASSIVE)');
  return { busy: Number(row.busy), log: Number(row.log), checkpointed: Number(row.checkpointed) };
};
const timer = setInterval(() => {
  try { run(); } catch (error) { parentPort.postMessage({ type: 'failed', message: describe(error) }); }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  try {
    const result = run();
    if (message.type === 'stop') { clearInterval(timer); db.close(); }
    parentPort.postMessage({ type: 'done', id: message.id, result });
    if (message.type === 'stop') parentPort.close();
  } catch (error) {
    parentPort.postMessage({ type: 'done', id: message.id, error: describe(error) });
  }
});
parentPort.postMessage({ type: 'ready' });
})();
`;

interface Reply {
  type: 'ready' | 'done' | 'failed';
  id?: number;
  result?: CheckpointResult;
  error?: string;
  message?: string;
}

/** Starts the worker; resolves once its connection is open, rejects if it cannot open one. */
export function startCheckpointer(options: CheckpointerOptions): Promise<Checkpointer> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver, path: options.path, intervalMs: options.intervalMs },
  });
  worker.unref();
  let seq = 0;
  let stopping = false;
  let failed = false;
  const waiting = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }>();

  const fail = (error: Error) => {
    if (failed || stopping) return;
    failed = true;
    for (const waiter of waiting.values()) waiter.reject(error);
    waiting.clear();
    options.onFailure(error);
    void worker.terminate();
  };

  const request = (type: 'checkpoint' | 'stop'): Promise<CheckpointResult> => {
    if (failed) return Promise.reject(new Error('the checkpoint worker has stopped'));
    const id = ++seq;
    // An idle worker must not keep the process alive, but one we await must.
    worker.ref();
    return new Promise<CheckpointResult>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ type, id });
    }).finally(() => {
      if (waiting.size === 0) worker.unref();
    });
  };

  return new Promise((resolveStart, rejectStart) => {
    let started = false;
    worker.on('message', (reply: Reply) => {
      if (reply.type === 'ready') {
        started = true;
        resolveStart({
          checkpoint: () => request('checkpoint'),
          async stop() {
            if (failed) return;
            const last = request('stop').catch(() => undefined);
            stopping = true;
            await last;
            worker.ref();
            await worker.terminate();
          },
        });
      } else if (reply.type === 'failed' && !started) {
        rejectStart(new Error(`cannot open the database for checkpoints: ${reply.message ?? 'unknown error'}`));
      } else if (reply.type === 'failed') {
        fail(new Error(`checkpoint failed: ${reply.message ?? 'unknown error'}`));
      } else if (reply.id !== undefined) {
        const waiter = waiting.get(reply.id);
        waiting.delete(reply.id);
        if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
        else if (reply.result !== undefined) waiter?.resolve(reply.result);
      }
    });
    worker.on('error', (error) => {
      if (!started) rejectStart(error);
      else fail(error);
    });
    worker.on('exit', (code) => {
      if (!started) rejectStart(new Error(`checkpoint worker exited with code ${code} before it started`));
      else if (!stopping) fail(new Error(`checkpoint worker exited with code ${code}`));
    });
  });
}
