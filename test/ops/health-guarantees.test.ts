/**
 * /healthz over real HTTP on 127.0.0.1 with a fake clock: a flood of health
 * checks reaches the store at most once a second (SQLite, and PostgreSQL when
 * TEST_DATABASE_URL is set), a hanging store holds at most one ping, and the
 * answer names the failing part without the error's text.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startOpsServer, type OpsServer } from '../../src/ops/health-server.ts';
import { createMetrics, type Metrics } from '../../src/ops/metrics.ts';
import { CoreEvents } from '../../src/core/events.ts';
import { createStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { createFakeClock, type FakeClock } from '../fakes/fake-clock.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';

const PG_URL = postgresTestUrl('the /healthz probe cache');

let ops: OpsServer | undefined;
let metrics: Metrics | undefined;
let store: Store | undefined;

afterEach(async () => {
  metrics?.close();
  await ops?.close();
  await store?.close();
  ops = undefined;
  metrics = undefined;
  store = undefined;
});

function captureLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), text: () => lines.join('') };
}

async function startOps(clock: FakeClock, ping: () => Promise<void>, logger = captureLogger().logger): Promise<string> {
  metrics = createMetrics(new CoreEvents());
  ops = await startOpsServer({
    port: 0,
    host: '127.0.0.1',
    health: { adapters: [{ platform: 'slack', connected: () => true }], store: { ping }, pingTimeoutMs: 2000, clock },
    metrics,
    logger,
  });
  return `http://127.0.0.1:${ops.address().port}/healthz`;
}

async function flood(url: string, n: number): Promise<Array<{ status: number; body: Record<string, unknown> }>> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const response = await fetch(url);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }),
  );
}

/** Polls in real time (the HTTP round trip is real) for a condition. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const backends: Array<[string, () => Promise<Store>]> = [
  ['SQLite', () => createStore('sqlite::memory:', { logger: pino({ level: 'silent' }) })],
  ...(PG_URL ? [['PostgreSQL', () => createStore(PG_URL, { logger: pino({ level: 'silent' }) })] as [string, () => Promise<Store>]] : []),
];

describe.each(backends)('/healthz on %s', (_name, open) => {
  it('a flood of health checks reaches the store at most once a second', async () => {
    store = await open();
    const real = store;
    let pings = 0;
    const clock = createFakeClock(1_000_000);
    const url = await startOps(clock, async () => {
      pings++;
      await real.ping();
    });

    const first = await flood(url, 50);
    expect(first.every((r) => r.status === 200 && r.body.store === 'up')).toBe(true);
    expect(pings).toBe(1);

    await clock.advance(999);
    await flood(url, 50);
    expect(pings).toBe(1);

    await clock.advance(1);
    await flood(url, 50);
    expect(pings).toBe(2);
  });
});

describe('/healthz when the store fails', () => {
  it('a hanging store holds at most one ping and /healthz says "timeout" after pingTimeoutMs', async () => {
    const clock = createFakeClock(1_000_000);
    let pings = 0;
    const url = await startOps(clock, () => {
      pings++;
      return new Promise<void>(() => undefined);
    });
    const answer = fetch(url);
    await until(() => pings === 1 && clock.pendingTimers() === 1, 'the ping and its timeout');
    await clock.advance(2000);
    const response = await answer;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ ok: false, store: 'down: timeout', down: ['store'] });

    // Seconds later the first ping still hangs: no second one joins it in the pool.
    await clock.advance(5000);
    const later = await flood(url, 20);
    expect(later.every((r) => r.status === 503 && r.body.store === 'down: timeout')).toBe(true);
    expect(pings).toBe(1);
  });

  it('/healthz names the failing part without the error text; the raw error goes to the log only', async () => {
    const clock = createFakeClock(1_000_000);
    const log = captureLogger();
    const secretish = 'password authentication failed for user "sb_owner" at db-7.internal.example:5432';
    const url = await startOps(clock, () => Promise.reject(new Error(secretish)), log.logger);
    const response = await fetch(url);
    const text = await response.text();
    expect(response.status).toBe(503);
    expect(JSON.parse(text)).toEqual({ ok: false, platforms: { slack: 'up' }, store: 'down: query failed', draining: false, down: ['store'] });
    for (const leak of ['sb_owner', 'db-7', 'internal.example', '5432', 'password', 'authentication']) expect(text).not.toContain(leak);
    await until(() => log.text().includes('db-7.internal.example'), 'the raw error in the log');
  });

  it.runIf(PG_URL)('a real unreachable PostgreSQL shows as "down: query failed", never its host, port or user', async () => {
    // A closed port on loopback: the driver's error names the host and port.
    const closed = new URL(PG_URL!);
    closed.port = '9';
    closed.username = 'sb_health_user';
    store = await createStore(closed.toString(), { logger: pino({ level: 'silent' }) });
    const real = store;
    const clock = createFakeClock(1_000_000);
    const log = captureLogger();
    const url = await startOps(clock, () => real.ping(), log.logger);
    const response = await fetch(url);
    const text = await response.text();
    expect(response.status).toBe(503);
    expect(JSON.parse(text)).toMatchObject({ store: 'down: query failed', down: ['store'] });
    for (const leak of ['127.0.0.1', ':9', 'sb_health_user', 'ECONNREFUSED']) expect(text).not.toContain(leak);
    await until(() => log.text().includes('ECONNREFUSED'), 'the raw error in the log');
  });
});
