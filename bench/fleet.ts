/**
 * `npm run bench -- --fleet`: the deployment of docs/DEPLOY.md against the
 * fakes. Three bot processes (`src/main.ts`, as npm start runs it) on one
 * PostgreSQL schema, each serving one of three Discord shards (two guilds per
 * shard), all sending Discord REST through one `npm run discord:proxy`
 * process; two of them also serve Slack in HTTP mode behind a round-robin
 * balancer (test/helpers/balancer.ts, the fleet test's too). 1,500 concurrent
 * answers (750 Discord, 750 Slack) over 100 channels and 500 users, three per
 * user, with a daily request limit of 2 for every fifth user, so exactly
 * those users' third requests are refused. Then the same work against one
 * process (every shard, Slack directly, no proxy) for the wall-time comparison.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { createStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import { startBalancer, type Balancer } from '../test/helpers/balancer.ts';
import { entryArgs } from '../test/helpers/entry-point.ts';
import { waitFor as poll } from '../test/helpers/wait.ts';
import { BENCH_API_KEY, BENCH_MODEL, type AnswerRecord, type ToParent } from './protocol.ts';
import { percentile, round, table } from './stats.ts';

export interface FleetFakes {
  request<T extends ToParent>(message: import('./protocol.ts').ToChild): Promise<T>;
  run(discord: number, slack: number, sequential: boolean): Promise<Extract<ToParent, { type: 'ran' }>>;
}

type Ready = Extract<ToParent, { type: 'ready' }>;

/**
 * Per platform: 50 channels, 250 users, 750 answers. ackDeadlineMs: the fake
 * Discord's acknowledgement deadline, 10 s rather than Discord's 3 s
 * (`--ack-deadline=3000` runs with Discord's). 750 interactions arriving in
 * the same instant, with 750 Slack events, where three bots, the proxy,
 * PostgreSQL and the fakes share 2 cores, took the fleet 1.7–3.0 s to
 * acknowledge the last of (one process: 1.2–1.4 s), with acknowledgements
 * sent straight to Discord (DISCORD_INTERACTIONS_API_URL; through the proxy:
 * 2.4–6.0 s). At 3 s, two runs of three had every answer and one lost 108:
 * CPU, not a queue (see the README's Performance section).
 */
export const FLEET_SHAPE = { channels: 50, users: 250, shards: 3, perPlatform: 750, limitedEvery: 5, limit: 2, ackDeadlineMs: 10_000 } as const;

export interface FleetRun {
  processes: number;
  answers: number;
  wallMs: number;
  answered: number;
  refused: number;
  expectedAnswered: number;
  expectedRefused: number;
  /** Users whose ok / refused ledger counts differ from what their quota says. */
  quotaMismatches: number;
  ledgerRows: number;
  unanswered: number;
  discord429s: number;
  slack429s: number;
  violations: string[];
  eventLoopP99Ms: Record<string, number>;
  reservationsPerSecond: number;
  finalP50Ms: number;
  finalP99Ms: number;
  /** Discord: from the interaction to its acknowledgement (the fake's deadline is shape.ackDeadlineMs; Discord's is 3 s). */
  ackP50Ms: number;
  ackP99Ms: number;
  ackMaxMs: number;
  /** Discord: message writes (edits, follow-ups) per answer, the deferral's placeholder not counted. */
  discordWritesPerAnswer: number;
  /** The fakes' process (every fake platform, one process): event-loop p99 / max and CPU seconds during the run. */
  fakesLoopP99Ms: number;
  fakesLoopMaxMs: number;
  fakesCpuS: number;
  /** Answered / refused / lost per platform. */
  byPlatform: Record<string, { answered: number; refused: number; lost: number }>;
}

export interface FleetResult {
  fleet: FleetRun;
  single: FleetRun;
}

interface Bot {
  name: string;
  child: ChildProcess;
  metricsUrl: string;
  slackPort?: number;
  log: string;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The fleet starts in seconds, but a loaded machine may take minutes: poll every 100 ms for up to 2 min. */
const waitFor = (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000) => poll(check, `fleet bench: ${what}`, timeoutMs, 100);

const healthy = (url: string) => fetch(`${url}/healthz`).then((r) => r.ok, () => false);

/** Starts an npm-script entry point with its output in a file (so the bench does not hold it in memory). */
function spawnEntry(script: string, env: Record<string, string>, log: string): ChildProcess {
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, entryArgs(script), {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return child;
}

async function eventLoopP99(bot: Bot): Promise<number> {
  const text = await (await fetch(`${bot.metricsUrl}/metrics`)).text();
  const match = /^switchboard_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
  return match ? Number(match[1]) * 1000 : Number.NaN;
}

/** Who asks how often where: the fakes' mapping (answer j: user j % users, channel j % channels). */
function expectations(ready: Ready): Array<{ platform: string; workspaceId: string; userId: string; asks: number; limit: number | null }> {
  const { channels, users, perPlatform, limitedEvery, limit } = FLEET_SHAPE;
  const out = new Map<string, { platform: string; workspaceId: string; userId: string; asks: number; limit: number | null }>();
  for (let j = 0; j < perPlatform; j++) {
    const u = j % users;
    const limited = u % limitedEvery === 0 ? limit : null;
    for (const [platform, workspaceId, userId] of [
      ['discord', ready.discord.channelGuilds[j % channels]!, ready.discord.userIds[u]!],
      ['slack', ready.slack.teamId, ready.slack.userIds[u]!],
    ] as const) {
      const key = `${platform}\n${workspaceId}\n${userId}`;
      const e = out.get(key) ?? { platform, workspaceId, userId, asks: 0, limit: limited };
      e.asks++;
      out.set(key, e);
    }
  }
  return [...out.values()];
}

async function runOnce(
  fakes: FleetFakes,
  ready: Ready,
  dir: string,
  databaseUrl: string,
  schema: string,
  shape: { processes: number; proxy: boolean },
): Promise<FleetRun> {
  const logger = pino({ level: 'warn' });
  const store: Store = await createStore(databaseUrl, { logger, schema });
  await store.migrate();
  const expected = expectations(ready);
  for (const e of expected) {
    if (e.limit !== null) await store.setQuotaLimit(e.platform, e.workspaceId, { kind: 'user', userId: e.userId }, 'requests-per-day', e.limit);
  }

  const children: ChildProcess[] = [];
  let balancer: Balancer | undefined;
  try {
    let discordApi = ready.discord.apiUrl;
    if (shape.proxy) {
      const port = await freePort();
      children.push(spawnEntry('src/ops/discord-proxy.ts', { DISCORD_PROXY_PORT: String(port), DISCORD_PROXY_UPSTREAM: ready.discord.apiUrl }, join(dir, 'proxy.log')));
      discordApi = `http://127.0.0.1:${port}/api`;
      await waitFor(() => healthy(`http://127.0.0.1:${port}`), 'the Discord proxy');
    }
    const url = new URL(databaseUrl);
    url.searchParams.set('schema', schema);
    const slackServers = Math.min(2, shape.processes);
    const bots: Bot[] = [];
    for (let i = 0; i < shape.processes; i++) {
      const metricsPort = await freePort();
      const slackPort = i < slackServers ? await freePort() : undefined;
      const log = join(dir, `bot-${shape.processes}-${i}.log`);
      const env: Record<string, string> = {
        OPENROUTER_API_KEY: BENCH_API_KEY,
        OPENROUTER_BASE_URL: ready.openrouterUrl,
        DATABASE_URL: url.toString(),
        DEFAULT_MODEL: BENCH_MODEL,
        DEFAULT_TOOLS: '',
        QUOTA_MAX_CONCURRENT: '100000',
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
        DISCORD_TOKEN: ready.discord.token,
        DISCORD_API_URL: discordApi,
        // As docs/DEPLOY.md's .env: interaction endpoints straight to Discord, the bot-token requests through the proxy.
        ...(discordApi !== ready.discord.apiUrl ? { DISCORD_INTERACTIONS_API_URL: ready.discord.apiUrl } : {}),
        ...(shape.processes > 1 ? { SHARD_COUNT: String(FLEET_SHAPE.shards), SHARD_IDS: String(i % FLEET_SHAPE.shards) } : {}),
        ...(slackPort !== undefined
          ? { SLACK_BOT_TOKEN: ready.slack.botToken, SLACK_SIGNING_SECRET: ready.slack.signingSecret, SLACK_API_URL: ready.slack.apiUrl, SLACK_PORT: String(slackPort) }
          : {}),
      };
      const child = spawnEntry('src/main.ts', env, log);
      children.push(child);
      bots.push({ name: `bot${i}`, child, metricsUrl: `http://127.0.0.1:${metricsPort}`, ...(slackPort === undefined ? {} : { slackPort }), log });
    }
    for (const bot of bots) {
      await waitFor(async () => {
        if (bot.child.exitCode !== null) throw new Error(`${bot.name} exited:\n${readFileSync(bot.log, 'utf8').slice(-3000)}`);
        return healthy(bot.metricsUrl);
      }, `${bot.name} to be healthy`);
    }
    const shards = shape.processes > 1 ? FLEET_SHAPE.shards : 1;
    await waitFor(async () => (await fakes.request<Extract<ToParent, { type: 'shards' }>>({ type: 'shards' })).ready >= shards, 'every shard identified');
    const slackPorts = bots.flatMap((b) => (b.slackPort === undefined ? [] : [b.slackPort]));
    let receiver = `http://127.0.0.1:${slackPorts[0]}/slack/events`;
    if (slackPorts.length > 1) {
      // Round-robin only: no health checks, so the balancer adds no load of its own to the measurement.
      balancer = await startBalancer(slackPorts.map((port) => ({ port })));
      receiver = `${balancer.url}/slack/events`;
    }
    await fakes.request({ type: 'slack-receiver', url: receiver });

    // Reset every process's event-loop histogram (prom-client resets it on each scrape), then the run.
    await Promise.all(bots.map(eventLoopP99));
    const from = new Date();
    const ran = await fakes.run(FLEET_SHAPE.perPlatform, FLEET_SHAPE.perPlatform, false);
    const loops = Object.fromEntries(await Promise.all(bots.map(async (b) => [b.name, await eventLoopP99(b)] as const)));

    const records: AnswerRecord[] = ran.records;
    // Settles land after the final message; give the ledger a moment to be complete.
    let rows = await store.ledger({ from });
    await waitFor(async () => {
      rows = await store.ledger({ from });
      return rows.length >= records.length;
    }, 'every request in the ledger', 30_000).catch(() => undefined);
    let mismatches = 0;
    let expectedAnswered = 0;
    for (const e of expected) {
      const mine = rows.filter((r) => r.platform === e.platform && r.workspaceId === e.workspaceId && r.userId === e.userId);
      const allowed = e.limit === null ? e.asks : Math.min(e.asks, e.limit);
      expectedAnswered += allowed;
      if (mine.filter((r) => r.outcome === 'ok').length !== allowed || mine.filter((r) => r.outcome === 'refused').length !== e.asks - allowed) mismatches++;
    }
    const done = records.filter((r) => r.finalAt !== undefined && !r.refused);
    const total = done.map((r) => r.finalAt! - r.sentAt);
    const acks = records.flatMap((r) => (r.ackedAt === undefined ? [] : [r.ackedAt - r.sentAt]));
    return {
      processes: shape.processes,
      answers: records.length,
      wallMs: ran.elapsedMs,
      answered: records.filter((r) => r.correct).length,
      refused: records.filter((r) => r.refused).length,
      expectedAnswered,
      expectedRefused: records.length - expectedAnswered,
      quotaMismatches: mismatches,
      ledgerRows: rows.length,
      unanswered: records.filter((r) => r.finalAt === undefined).length,
      discord429s: ran.discord.rateLimited,
      slack429s: ran.slack.rateLimited,
      violations: [...ran.discord.violations, ...ran.slack.violations].slice(0, 10),
      eventLoopP99Ms: loops,
      reservationsPerSecond: (records.length / ran.elapsedMs) * 1000,
      finalP50Ms: percentile(total, 50),
      finalP99Ms: percentile(total, 99),
      ackP50Ms: percentile(acks, 50),
      ackP99Ms: percentile(acks, 99),
      ackMaxMs: acks.length === 0 ? Number.NaN : Math.max(...acks),
      discordWritesPerAnswer: mean(records.filter((r) => r.platform === 'discord' && !r.refused).map((r) => r.writes)),
      fakesLoopP99Ms: ran.fakes?.loopP99Ms ?? Number.NaN,
      fakesLoopMaxMs: ran.fakes?.loopMaxMs ?? Number.NaN,
      fakesCpuS: (ran.fakes?.cpuMs ?? Number.NaN) / 1000,
      byPlatform: Object.fromEntries(
        (['discord', 'slack'] as const).map((platform) => {
          const mine = records.filter((r) => r.platform === platform);
          return [
            platform,
            { answered: mine.filter((r) => r.correct).length, refused: mine.filter((r) => r.refused).length, lost: mine.filter((r) => r.finalAt === undefined).length },
          ];
        }),
      ),
    };
  } finally {
    await balancer?.close();
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve)))));
    await store.close();
  }
}

export async function benchFleet(fakes: FleetFakes, ready: Ready, dir: string): Promise<FleetResult> {
  const databaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: databaseUrl });
  // Another client may terminate idle connections (tests do); the drop at the end then fails on its own.
  admin.on('error', (error) => process.stderr.write(`bench: admin connection lost: ${error.message}\n`));
  await admin.connect();
  const schemas = [`bench_fleet_${process.pid}`, `bench_single_${process.pid}`];
  try {
    process.stderr.write('bench: fleet of 3 processes + proxy + balancer…\n');
    const fleet = await runOnce(fakes, ready, dir, databaseUrl, schemas[0]!, { processes: 3, proxy: true });
    process.stderr.write('bench: the same work on one process…\n');
    const single = await runOnce(fakes, ready, dir, databaseUrl, schemas[1]!, { processes: 1, proxy: false });
    return { fleet, single };
  } finally {
    for (const schema of schemas) await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

const mean = (values: number[]) => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);
const ms = (v: number) => (Number.isFinite(v) ? `${round(v, 1)} ms` : 'n/a');

export function fleetTable(result: FleetResult): string {
  const row = (label: string, r: FleetRun) => [
    label,
    `${r.answered} / ${r.expectedAnswered}`,
    `${r.refused} / ${r.expectedRefused}`,
    `${r.ledgerRows} (${r.quotaMismatches} users off)`,
    String(r.unanswered),
    `${r.discord429s} / ${r.slack429s}`,
    Object.values(r.eventLoopP99Ms).map(ms).join(', '),
    String(round(r.reservationsPerSecond, 0)),
    `${ms(r.finalP50Ms)} / ${ms(r.finalP99Ms)}`,
    `${ms(r.ackP50Ms)} / ${ms(r.ackP99Ms)} / ${ms(r.ackMaxMs)}`,
    `${ms(r.fakesLoopP99Ms)} / ${ms(r.fakesLoopMaxMs)}, ${round(r.fakesCpuS, 1)} s CPU`,
    String(round(r.discordWritesPerAnswer, 2)),
    `${round(r.wallMs / 1000, 1)} s`,
    Object.entries(r.byPlatform)
      .map(([platform, c]) => `${platform} ${c.answered}/${c.refused}/${c.lost}`)
      .join(', '),
  ];
  const ok = (r: FleetRun) =>
    r.answered === r.expectedAnswered && r.refused === r.expectedRefused && r.quotaMismatches === 0 && r.ledgerRows === r.answers && r.discord429s === 0;
  return [
    table([
      ['1,500 answers, 100 channels, 500 users', 'answered / expected', 'refused / expected', 'ledger rows (quota check)', 'lost', '429s Discord / Slack', 'event-loop p99 per process', 'quota checks/s', 'final p50 / p99', 'Discord ack p50 / p99 / max', 'fakes process loop p99 / max, CPU', 'Discord writes per answer', 'wall', 'answered/refused/lost per platform'],
      row('fleet: 3 processes, 3 shards, proxy, balancer', result.fleet),
      row('one process', result.single),
    ]),
    '',
    `Fleet exactly once and exact quotas: ${ok(result.fleet) ? 'met' : 'MISSED'}; one process: ${ok(result.single) ? 'met' : 'MISSED'}; ` +
      `fleet wall ÷ one process: ${round(result.fleet.wallMs / result.single.wallMs, 2)}x.`,
  ].join('\n');
}
