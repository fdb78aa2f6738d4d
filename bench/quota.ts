/**
 * Quota reservations per second (each one a QuotaService.reserve and its
 * settle) with 50 concurrent users of one workspace and with 100 concurrent
 * users spread over 20 workspaces, on SQLite and on PostgreSQL, and the latency
 * of one quota check (the limits lookup plus the atomic check-and-insert).
 */
import type { ModelInfo } from '../src/llm/types.ts';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import type { Config } from '../src/config.ts';
import { QuotaService } from '../src/core/quota.ts';
import { createStore } from '../src/store/index.ts';
import { createKyselyStore } from '../src/store/kysely-store.ts';
import { createPostgresBackend } from '../src/store/postgres.ts';
import type { LedgerEntry, Store } from '../src/store/types.ts';
import { percentile } from './stats.ts';

/** postgres-transactions: the path before migration 10 (one transaction of six round trips), for comparison. */
export type QuotaBackend = 'sqlite' | 'postgres' | 'postgres-transactions';

export interface QuotaBackendResult {
  backend: QuotaBackend;
  skipped?: string;
  reservationsPerSecond: number;
  /** 100 users over 20 workspaces (5 each) at once. */
  spreadPerSecond: number;
  loadP50: number;
  loadP99: number;
  checkP50: number;
  checkP99: number;
}

export interface QuotaResult {
  users: number;
  spread: { users: number; workspaces: number };
  backends: QuotaBackendResult[];
}

const USERS = 50;
const WORKSPACE = 'bench-workspace';
const SPREAD_WORKSPACES = 20;
const SPREAD_USERS = 100;
/** Limits high enough never to refuse, so every check runs every comparison. */
const LIMITS: Config['quota'] = {
  requestsPerDay: 1e9,
  tokensPerDay: 1e12,
  usdPerDay: 1e6,
  usdPerMonth: 1e6,
  serverUsdPerMonth: 1e7,
  dmUsdPerMonth: null,
  maxConcurrent: 10,
  reservationTtlMs: 900_000,
};

const BENCH_MODEL_INFO: ModelInfo = {
  id: 'openai/gpt-4o-mini',
  name: 'GPT-4o mini',
  contextLength: 128_000,
  pricing: { prompt: 0.00000015, completion: 0.0000006, request: 0 },
  supportedParameters: ['tools'],
  isFree: false,
};

function entry(requestId: string, userId: string, workspaceId: string): LedgerEntry {
  return {
    requestId,
    at: new Date(),
    platform: 'bench',
    workspaceId,
    channelId: 'c1',
    userId,
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini',
    tokensIn: 120,
    tokensOut: 300,
    costUsd: 0.0002,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
  };
}

async function measure(store: Store, backend: QuotaBackend, durationMs: number, checks: number): Promise<QuotaBackendResult> {
  await store.migrate();
  const quota = new QuotaService(store, LIMITS, `bench-${backend}`);
  let seq = 0;
  const reserveOnce = async (userId: string, workspaceId = WORKSPACE): Promise<number> => {
    const requestId = `${backend}-${++seq}`;
    const started = performance.now();
    await quota.reserve({
      requestId,
      user: { platform: 'bench', workspaceId, userId },
      channelId: 'c1',
      model: 'openai/gpt-4o-mini',
      // A priced catalog entry: with USD limits in force an unknown price is refused.
      modelInfo: BENCH_MODEL_INFO,
      promptTokens: 120,
      maxTokens: 1024,
    });
    const took = performance.now() - started;
    await quota.settle(requestId, entry(requestId, userId, workspaceId));
    return took;
  };

  // Warm-up, then 50 users reserving and settling as fast as they can.
  for (let i = 0; i < 50; i++) await reserveOnce('warm');
  const load: number[] = [];
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: USERS }, async (_, u) => {
      while (performance.now() < deadline) load.push(await reserveOnce(`user${u}`));
    }),
  );
  const elapsed = performance.now() - started;

  // The same over 20 workspaces: they take different locks, so they run side by side.
  let spreadCount = 0;
  const spreadDeadline = performance.now() + durationMs;
  const spreadStarted = performance.now();
  await Promise.all(
    Array.from({ length: SPREAD_USERS }, async (_, u) => {
      while (performance.now() < spreadDeadline) {
        await reserveOnce(`user${u}`, `bench-ws-${u % SPREAD_WORKSPACES}`);
        spreadCount++;
      }
    }),
  );
  const spreadPerSecond = (spreadCount / (performance.now() - spreadStarted)) * 1000;

  // One check at a time: the latency a single request adds.
  const single: number[] = [];
  for (let i = 0; i < checks; i++) single.push(await reserveOnce(`user${i % USERS}`));

  return {
    backend,
    reservationsPerSecond: (load.length / elapsed) * 1000,
    spreadPerSecond,
    loadP50: percentile(load, 50),
    loadP99: percentile(load, 99),
    checkP50: percentile(single, 50),
    checkP99: percentile(single, 99),
  };
}

export async function benchQuota(options: { dir: string; durationMs: number; checks: number }): Promise<QuotaResult> {
  const logger = pino({ level: 'warn' });
  const backends: QuotaBackendResult[] = [];

  const sqlite = await createStore(`sqlite:${join(options.dir, 'quota.db')}`, { logger });
  try {
    backends.push(await measure(sqlite, 'sqlite', options.durationMs, options.checks));
  } finally {
    await sqlite.close();
  }

  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_quota_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  try {
    await admin.connect();
  } catch (error) {
    backends.push({ backend: 'postgres', skipped: `no PostgreSQL at ${url} (${(error as Error).message})`, reservationsPerSecond: 0, spreadPerSecond: 0, loadP50: 0, loadP99: 0, checkP50: 0, checkP99: 0 });
    return { users: USERS, spread: { users: SPREAD_USERS, workspaces: SPREAD_WORKSPACES }, backends };
  }
  try {
    for (const backend of ['postgres', 'postgres-transactions'] as const) {
      const postgres = createKyselyStore(createPostgresBackend(url, logger, schema), logger, { quotaFunctions: backend === 'postgres' });
      try {
        backends.push(await measure(postgres, backend, options.durationMs, options.checks));
      } finally {
        await postgres.close();
        await admin.query(`drop schema if exists ${schema} cascade`);
      }
    }
  } finally {
    await admin.end();
  }
  return { users: USERS, spread: { users: SPREAD_USERS, workspaces: SPREAD_WORKSPACES }, backends };
}
