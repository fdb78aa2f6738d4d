/**
 * `npm run bench [-- --quick]`: the real bot (createApp with the real Discord
 * and Slack adapters) against the fakes from test/fakes on 127.0.0.1, each
 * figure beside a baseline measured in the same run. The fakes and the
 * simulated users run in a child process (bench/fakes-process.ts) so only the
 * bot's own work counts against this process's event loop, CPU and memory.
 * Prints a table and writes bench/results.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { createApp, type App } from '../src/app.ts';
import { parseConfig } from '../src/config.ts';
import type { ChatAdapter } from '../src/core/types.ts';
import { createLogger } from '../src/log.ts';
import { createDiscordAdapter } from '../src/platforms/discord/adapter.ts';
import { createSlackAdapter } from '../src/platforms/slack/adapter.ts';
import { attachmentsReport, benchAttachments } from './attachments.ts';
import { benchCaching, type CachingResult } from './caching.ts';
import { benchFleet, FLEET_SHAPE, fleetTable } from './fleet.ts';
import { benchQuota, type QuotaResult } from './quota.ts';
import { BENCH_API_KEY, BENCH_MODEL, promptFor, wallMs, type AnswerRecord, type ToChild, type ToParent, type UpstreamShape } from './protocol.ts';
import { percentile, round, table } from './stats.ts';

const quick = process.argv.includes('--quick');
/** `--scale-only N`: one burst of N answers and nothing else (for profiling with node --cpu-prof). */
const scaleOnlyArg = process.argv.indexOf('--scale-only');
const scaleOnly = scaleOnlyArg >= 0 ? Number(process.argv[scaleOnlyArg + 1]) : undefined;
/** `--quota`: only the quota reservations (SQLite and PostgreSQL). */
const quotaOnly = process.argv.includes('--quota');
/** `--fleet`: three processes, the Discord proxy and a Slack balancer on PostgreSQL (bench/fleet.ts), beside one process. */
const fleetOnly = process.argv.includes('--fleet');
/** `--ack-deadline=MS`: the fake Discord's acknowledgement deadline for --fleet (Discord's is 3000). */
const ackDeadlineMs = Number(/^--ack-deadline=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--ack-deadline=')) ?? '')?.[1] ?? FLEET_SHAPE.ackDeadlineMs);
/** `--keep-logs`: leave the processes' logs in the temporary directory (named at the end). */
const keepLogs = process.argv.includes('--keep-logs');
/** `--attachments-only`: the attachments section alone, its figures merged into bench/results.json. */
const attachmentsOnly = process.argv.includes('--attachments-only');
const ATTACHMENT_SAMPLES = quick ? 10 : 30;
const ATTACHMENT_CONCURRENT = 50;

const UPSTREAM: UpstreamShape = { firstTokenDelayMs: 200, chunkDelayMs: 25, chunks: 8 };
const LATENCY_SAMPLES = quick ? 20 : 60;
const SCALES = quick ? [50, 100] : [100, 500, 1000];
/** Channels and users per platform the answers are spread over. */
const CHANNELS = 250;
const USERS = 100;
const ANSWER_TIMEOUT_MS = 120_000;

const here = fileURLToPath(new URL('.', import.meta.url));

// ---- the fakes' process ------------------------------------------------------------

class Fakes {
  #seq = 0;
  #waiters = new Map<number, (message: Extract<ToParent, { type: 'ran' }>) => void>();
  #next: Array<(message: ToParent) => void> = [];

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: ToParent) => {
      if (message.type === 'ran') {
        this.#waiters.get(message.id)?.(message);
        this.#waiters.delete(message.id);
      } else this.#next.shift()?.(message);
    });
  }

  request<T extends ToParent>(message: ToChild): Promise<T> {
    return new Promise((resolve) => {
      this.#next.push((reply) => resolve(reply as T));
      this.child.send(message);
    });
  }

  run(discord: number, slack: number, sequential: boolean): Promise<Extract<ToParent, { type: 'ran' }>> {
    const id = ++this.#seq;
    return new Promise((resolve) => {
      this.#waiters.set(id, resolve);
      this.child.send({ type: 'run', id, discord, slack, sequential, timeoutMs: ANSWER_TIMEOUT_MS } satisfies ToChild);
    });
  }
}

// ---- the baseline: the plain openai SDK against the same fake upstream ---------------

async function baseline(openrouterUrl: string, samples: number): Promise<{ ttft: number[]; total: number[] }> {
  const client = new OpenAI({ apiKey: BENCH_API_KEY, baseURL: openrouterUrl, maxRetries: 0 });
  const ttft: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = wallMs();
    let first: number | undefined;
    const stream = await client.chat.completions.create({
      model: BENCH_MODEL,
      messages: [{ role: 'user', content: promptFor(`base${i}`) }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      if (first === undefined && chunk.choices[0]?.delta.content) first = wallMs();
    }
    ttft.push(first! - started);
    total.push(wallMs() - started);
  }
  return { ttft, total };
}

// ---- the bot -------------------------------------------------------------------------

interface Bot {
  app: App;
  adapters: Array<ChatAdapter & { idle(): Promise<void> }>;
  stop(): Promise<void>;
}

async function startBot(ready: Extract<ToParent, { type: 'ready' }>, dir: string): Promise<Bot & { slackUrl: string }> {
  const config = parseConfig({
    OPENROUTER_API_KEY: BENCH_API_KEY,
    OPENROUTER_BASE_URL: ready.openrouterUrl,
    DATABASE_URL: `sqlite:${join(dir, 'bot.db')}`,
    DEFAULT_MODEL: BENCH_MODEL,
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    QUOTA_MAX_CONCURRENT: '100000',
    DISCORD_TOKEN: ready.discord.token,
    DISCORD_API_URL: ready.discord.apiUrl,
    DISCORD_GUILD_ID: ready.discord.guildId,
    SLACK_BOT_TOKEN: ready.slack.botToken,
    SLACK_SIGNING_SECRET: ready.slack.signingSecret,
    SLACK_API_URL: ready.slack.apiUrl,
  });
  // Production logs at info; the lines go to a file so their cost counts.
  const logger = createLogger({ level: 'info', destination: createWriteStream(join(dir, 'bot.log')), secrets: config.secrets });
  const app = await createApp(config, { logger });
  const discord = createDiscordAdapter(config.discord!, app.core.host);
  const slack = createSlackAdapter(config.slack!, app.core.host, { port: 0, host: '127.0.0.1' });
  await discord.start();
  await slack.start();
  const address = slack.address()!;
  return {
    app,
    adapters: [discord, slack],
    slackUrl: `http://127.0.0.1:${address.port}/slack/events`,
    async stop() {
      await discord.stop();
      await slack.stop();
      await app.close();
    },
  };
}

// ---- measurements ----------------------------------------------------------------------

interface LatencyResult {
  platform: string;
  samples: number;
  ttftP50: number;
  ttftP99: number;
  ttftOverP50: number;
  ttftOverP99: number;
  ttftRatioP50: number;
  ttftRatioP99: number;
  totalP50: number;
  totalP99: number;
  totalOverP50: number;
  totalOverP99: number;
  totalRatioP50: number;
  totalRatioP99: number;
  writesPerAnswer: number;
  rateLimited: number;
  violations: string[];
  incorrect: number;
}

function latency(platform: string, ran: Extract<ToParent, { type: 'ran' }>, base: { ttft: number[]; total: number[] }): LatencyResult {
  const records = ran.records.filter((r) => r.platform === platform);
  const ttft = records.map((r) => (r.firstTextAt ?? Number.NaN) - r.sentAt);
  const total = records.map((r) => (r.finalAt ?? Number.NaN) - r.sentAt);
  const counters = platform === 'discord' ? ran.discord : ran.slack;
  const b50 = percentile(base.ttft, 50);
  const b99 = percentile(base.ttft, 99);
  const t50 = percentile(base.total, 50);
  const t99 = percentile(base.total, 99);
  return {
    platform,
    samples: records.length,
    ttftP50: percentile(ttft, 50),
    ttftP99: percentile(ttft, 99),
    ttftOverP50: percentile(ttft, 50) - b50,
    ttftOverP99: percentile(ttft, 99) - b99,
    ttftRatioP50: percentile(ttft, 50) / b50,
    ttftRatioP99: percentile(ttft, 99) / b99,
    totalP50: percentile(total, 50),
    totalP99: percentile(total, 99),
    totalOverP50: percentile(total, 50) - t50,
    totalOverP99: percentile(total, 99) - t99,
    totalRatioP50: percentile(total, 50) / t50,
    totalRatioP99: percentile(total, 99) / t99,
    writesPerAnswer: records.reduce((n, r) => n + r.writes, 0) / Math.max(1, records.length),
    rateLimited: counters.rateLimited,
    violations: counters.violations.slice(0, 10),
    incorrect: records.filter((r) => !r.correct || r.finalAt === undefined).length,
  };
}

interface ScaleResult {
  n: number;
  discord: number;
  slack: number;
  completed: number;
  correct: number;
  wallMs: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  rssMaxMb: number;
  rssGrowthMb: number;
  cpuMsPerAnswer: number;
  totalP50Ms: number;
  totalP99Ms: number;
  writesPerAnswerDiscord: number;
  writesPerAnswerSlack: number;
  rateLimited: { discord: number; slack: number };
  violations: string[];
  ledgerRows: number;
  reservedAfter: number;
}

async function scale(fakes: Fakes, bot: Bot, n: number, guildId: string): Promise<ScaleResult> {
  const discordCount = Math.floor(n / 2);
  const slackCount = n - discordCount;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssMax = rssBefore;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }, 50);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  const from = new Date();
  histogram.enable();
  const cpu = process.cpuUsage();
  const ran = await fakes.run(discordCount, slackCount, false);
  await Promise.all(bot.adapters.map((a) => a.idle()));
  const cpuUsed = process.cpuUsage(cpu);
  histogram.disable();
  clearInterval(sampler);
  const records: AnswerRecord[] = ran.records;
  const done = records.filter((r) => r.finalAt !== undefined);
  const total = done.map((r) => r.finalAt! - r.sentAt);
  const { store } = bot.app.core;
  const rows = await store.ledger({ from });
  const now = new Date();
  const reserved =
    (await store.usage('discord', guildId, undefined, now)).reserved.requests + (await store.usage('slack', 'T0FAKE', undefined, now)).reserved.requests;
  const writes = (platform: string) => {
    const list = records.filter((r) => r.platform === platform);
    return list.reduce((sum, r) => sum + r.writes, 0) / Math.max(1, list.length);
  };
  return {
    n,
    discord: discordCount,
    slack: slackCount,
    completed: done.length,
    correct: records.filter((r) => r.correct).length,
    wallMs: ran.elapsedMs,
    eventLoopP99Ms: histogram.percentile(99) / 1e6,
    eventLoopMaxMs: histogram.max / 1e6,
    rssMaxMb: rssMax / 2 ** 20,
    rssGrowthMb: (rssMax - rssBefore) / 2 ** 20,
    cpuMsPerAnswer: (cpuUsed.user + cpuUsed.system) / 1000 / n,
    totalP50Ms: percentile(total, 50),
    totalP99Ms: percentile(total, 99),
    writesPerAnswerDiscord: writes('discord'),
    writesPerAnswerSlack: writes('slack'),
    rateLimited: { discord: ran.discord.rateLimited, slack: ran.slack.rateLimited },
    violations: [...ran.discord.violations, ...ran.slack.violations].slice(0, 10),
    ledgerRows: rows.filter((r) => r.outcome === 'ok').length,
    reservedAfter: reserved,
  };
}

// ---- report ----------------------------------------------------------------------------

const ms = (v: number) => (Number.isFinite(v) ? `${round(v, 1)} ms` : 'n/a');
const x = (v: number) => (Number.isFinite(v) ? `${round(v, 3)}x` : 'n/a');
const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');

function report(results: {
  base: { ttftP50: number; ttftP99: number; totalP50: number; totalP99: number };
  latency: LatencyResult[];
  scale: ScaleResult[];
  quota: QuotaResult;
  caching: CachingResult;
}): string {
  const lines: string[] = [];
  lines.push(
    `Upstream: first token after ${UPSTREAM.firstTokenDelayMs} ms, ${UPSTREAM.chunks} chunks ${UPSTREAM.chunkDelayMs} ms apart. ` +
      `Baseline (openai SDK direct): first token p50 ${ms(results.base.ttftP50)} / p99 ${ms(results.base.ttftP99)}, ` +
      `stream end p50 ${ms(results.base.totalP50)} / p99 ${ms(results.base.totalP99)}.`,
  );
  lines.push('');
  lines.push(
    table([
      ['latency (sequential)', 'first visible token p50 / p99', 'bot − SDK p50 / p99', 'ratio p50 / p99', 'final message p50 / p99', 'bot − SDK p50 / p99', 'ratio p50 / p99', 'writes/answer', '429s', 'targets'],
      ...results.latency.map((l) => [
        `${l.platform} (${l.samples})`,
        `${ms(l.ttftP50)} / ${ms(l.ttftP99)}`,
        `${ms(l.ttftOverP50)} / ${ms(l.ttftOverP99)}`,
        `${x(l.ttftRatioP50)} / ${x(l.ttftRatioP99)}`,
        `${ms(l.totalP50)} / ${ms(l.totalP99)}`,
        `${ms(l.totalOverP50)} / ${ms(l.totalOverP99)}`,
        `${x(l.totalRatioP50)} / ${x(l.totalRatioP99)}`,
        round(l.writesPerAnswer, 1).toString(),
        String(l.rateLimited),
        `first token ≤15 ms: ${mark(l.ttftOverP50 <= 15)}; final ≤50 ms p99: ${mark(l.totalOverP99 <= 50)}`,
      ]),
    ]),
  );
  lines.push('');
  lines.push(
    table([
      ['concurrent answers', 'done / correct', 'wall', 'final p50 / p99', 'event-loop p99 / max', 'RSS max (+growth)', 'CPU/answer', 'writes/answer d / s', '429s d / s', 'ledger ok / reserved after', 'targets'],
      ...results.scale.map((s) => [
        `${s.n} (${s.discord} Discord + ${s.slack} Slack)`,
        `${s.completed} / ${s.correct}`,
        `${round(s.wallMs / 1000, 1)} s`,
        `${ms(s.totalP50Ms)} / ${ms(s.totalP99Ms)}`,
        `${ms(s.eventLoopP99Ms)} / ${ms(s.eventLoopMaxMs)}`,
        `${round(s.rssMaxMb, 0)} MB (+${round(s.rssGrowthMb, 0)})`,
        `${round(s.cpuMsPerAnswer, 2)} ms`,
        `${round(s.writesPerAnswerDiscord, 1)} / ${round(s.writesPerAnswerSlack, 1)}`,
        `${s.rateLimited.discord} / ${s.rateLimited.slack}`,
        `${s.ledgerRows} / ${s.reservedAfter}`,
        s.n >= 1000
          ? `loop p99 <50 ms: ${mark(s.eventLoopP99Ms < 50)}; no 429: ${mark(s.rateLimited.discord + s.rateLimited.slack === 0)}; all right: ${mark(s.correct === s.n)}`
          : `all right: ${mark(s.correct === s.n)}`,
      ]),
    ]),
  );
  lines.push('');
  lines.push(quotaTable(results.quota));
  lines.push('');
  lines.push(cachingTable(results.caching));
  return lines.join('\n');
}

function quotaTable(q: QuotaResult): string {
  return table([
    ['quota (reserve + settle)', `reservations/s (${q.users} users, 1 workspace)`, `reservations/s (${q.spread.users} users, ${q.spread.workspaces} workspaces)`, 'reserve p50 / p99 under load', 'quota check p50 / p99 (1 at a time)', 'targets'],
    ...q.backends.map((b) => [
      b.backend,
      b.skipped ? `skipped: ${b.skipped}` : String(round(b.reservationsPerSecond, 0)),
      b.skipped ? '' : String(round(b.spreadPerSecond, 0)),
      b.skipped ? '' : `${ms(b.loadP50)} / ${ms(b.loadP99)}`,
      b.skipped ? '' : `${round(b.checkP50, 3)} ms / ${round(b.checkP99, 3)} ms`,
      b.skipped
        ? ''
        : b.backend === 'sqlite'
          ? `check <2 ms p99: ${mark(b.checkP99 < 2)}`
          : b.backend === 'postgres-transactions'
            ? 'before migration 10, for comparison'
            : `≥2,000/s one workspace: ${mark(b.reservationsPerSecond >= 2000)}; ≥5,000/s over 20: ${mark(b.spreadPerSecond >= 5000)}`,
    ]),
  ]);
}

function cachingTable(c: CachingResult): string {
  const usd = (v: number) => `$${round(v, 5)}`;
  const row = (label: string, t: CachingResult['first']) => [label, `${t.promptTokens} (${t.cachedTokens} cached)`, usd(t.costUsd), ms(t.ttftP50Ms)];
  return [
    `Prompt cache: a ${c.threadTokens}-token thread on ${c.cacheControlSent ? 'anthropic/ (cache_control sent)' : 'a model'}, ${c.samples} threads, medians; ` +
      `the fake upstream prices cached tokens at a tenth and prefills ${c.prefillMsPerKToken} ms per 1k uncached tokens.`,
    '',
    table([
      ['turn', 'prompt tokens', 'cost', 'first token'],
      row('first', c.first),
      row('second (same session_id)', c.second),
      ['second ÷ first', '', x(c.second.costUsd / c.first.costUsd), x(c.second.ttftP50Ms / c.first.ttftP50Ms)],
    ]),
  ].join('\n');
}

// ---- main ------------------------------------------------------------------------------

/** Runs the attachments section alone and merges its figures into bench/results.json. */
async function attachmentsAlone(): Promise<void> {
  const attachments = await benchAttachments({ samples: ATTACHMENT_SAMPLES, concurrent: ATTACHMENT_CONCURRENT });
  process.stdout.write(`${attachmentsReport(attachments)}\n`);
  const path = join(here, 'results.json');
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    // No earlier results: the file holds this section only.
  }
  writeFileSync(path, `${JSON.stringify({ ...previous, attachments: { date: new Date().toISOString(), node: process.version, ...attachments } }, null, 2)}\n`);
}

async function main(): Promise<void> {
  if (attachmentsOnly) {
    await attachmentsAlone();
    return;
  }
  const began = Date.now();
  if (quotaOnly) {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
    try {
      process.stdout.write(`${quotaTable(await benchQuota({ dir, durationMs: quick ? 1500 : 4000, checks: quick ? 500 : 2000 }))}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const child = fork(join(here, 'fakes-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const fakes = new Fakes(child);
  let bot: (Bot & { slackUrl: string }) | undefined;
  try {
    if (fleetOnly) {
      const ready = await fakes.request<Extract<ToParent, { type: 'ready' }>>({
        type: 'start',
        channels: FLEET_SHAPE.channels,
        users: FLEET_SHAPE.users,
        upstream: UPSTREAM,
        shards: FLEET_SHAPE.shards,
        ackDeadlineMs,
      });
      const fleet = await benchFleet(fakes, ready, dir);
      process.stdout.write(`${fleetTable(fleet)}\n`);
      writeFileSync(
        join(here, 'fleet-results.json'),
        `${JSON.stringify({ date: new Date().toISOString(), node: process.version, upstream: UPSTREAM, shape: { ...FLEET_SHAPE, ackDeadlineMs }, durationS: round((Date.now() - began) / 1000, 1), ...fleet }, null, 2)}\n`,
      );
      process.stderr.write(`bench: done in ${round((Date.now() - began) / 1000, 1)} s; wrote bench/fleet-results.json\n`);
      return;
    }
    const ready = await fakes.request<Extract<ToParent, { type: 'ready' }>>({ type: 'start', channels: CHANNELS, users: USERS, upstream: UPSTREAM });
    if (scaleOnly !== undefined) {
      bot = await startBot(ready, dir);
      await fakes.request({ type: 'slack-receiver', url: bot.slackUrl });
      await fakes.run(3, 3, true);
      process.stdout.write(`${JSON.stringify(await scale(fakes, bot, scaleOnly, ready.discord.guildId), null, 2)}\n`);
      return;
    }
    process.stderr.write(`bench: fakes ready; baseline (${LATENCY_SAMPLES} streams)…\n`);
    await baseline(ready.openrouterUrl, 5); // warm-up
    const base = await baseline(ready.openrouterUrl, LATENCY_SAMPLES);

    bot = await startBot(ready, dir);
    await fakes.request({ type: 'slack-receiver', url: bot.slackUrl });
    process.stderr.write('bench: bot up; latency…\n');
    await fakes.run(3, 3, true); // warm-up
    // The warm-up's writes fill the first channels' 5-per-5 s Discord budget; a sample
    // in those channels right after would measure that wait, not the bot.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const discordRun = await fakes.run(LATENCY_SAMPLES, 0, true);
    const slackRun = await fakes.run(0, LATENCY_SAMPLES, true);
    const latencyResults = [latency('discord', discordRun, base), latency('slack', slackRun, base)];

    const scaleResults: ScaleResult[] = [];
    for (const n of SCALES) {
      process.stderr.write(`bench: ${n} concurrent answers…\n`);
      scaleResults.push(await scale(fakes, bot, n, ready.discord.guildId));
    }
    await bot.stop();
    bot = undefined;

    process.stderr.write('bench: quota reservations…\n');
    const quota = await benchQuota({ dir, durationMs: quick ? 1500 : 4000, checks: quick ? 500 : 2000 });
    process.stderr.write('bench: prompt cache…\n');
    const caching = await benchCaching({ samples: quick ? 3 : 10 });
    process.stderr.write('bench: attachments…\n');
    const attachments = await benchAttachments({ samples: ATTACHMENT_SAMPLES, concurrent: ATTACHMENT_CONCURRENT });

    const results = {
      base: {
        ttftP50: percentile(base.ttft, 50),
        ttftP99: percentile(base.ttft, 99),
        totalP50: percentile(base.total, 50),
        totalP99: percentile(base.total, 99),
      },
      latency: latencyResults,
      scale: scaleResults,
      quota,
      caching,
      attachments,
    };
    const text = report(results);
    process.stdout.write(`${text}\n${attachmentsReport(attachments)}\n`);
    writeFileSync(
      join(here, 'results.json'),
      `${JSON.stringify({ date: new Date().toISOString(), quick, node: process.version, upstream: UPSTREAM, durationS: round((Date.now() - began) / 1000, 1), ...results }, null, 2)}\n`,
    );
    process.stderr.write(`bench: done in ${round((Date.now() - began) / 1000, 1)} s; wrote bench/results.json\n`);
  } finally {
    await bot?.stop();
    child.send({ type: 'exit' } satisfies ToChild);
    if (keepLogs) process.stderr.write(`bench: logs kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
