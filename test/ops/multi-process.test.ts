/**
 * The fleet of docs/DEPLOY.md, small: two real bot processes (`src/main.ts`
 * through tsx, as npm start runs it) on one PostgreSQL schema and one
 * `npm run discord:proxy` process (src/ops/discord-proxy.ts), against the fake
 * Slack (HTTP mode), the fake Discord (two guilds on two shards, one shard per
 * process, every REST call through the proxy: the bots know no other Discord
 * URL) and the fake OpenRouter, all on 127.0.0.1. They share settings, quotas,
 * the ledger and Slack event deduplication; SIGTERM shuts one down gracefully.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTARTING_MESSAGE } from '../../src/core/errors.ts';
import { INTERRUPTED_LINE } from '../../src/core/pipeline.ts';
import { createStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { spawnBot, spawnEntry, type BotProcess as Spawned } from '../helpers/entry-point.ts';
import { shardOfGuild } from '../fakes/discord-gateway.ts';
import { startFakeDiscord, type FakeChannel, type FakeDiscord } from '../fakes/discord.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';

const KEY = 'sk-or-v1-multi-process-abcdef123456';
const PG_URL = postgresTestUrl('the two-process test');
const CHANNEL = 'C0GENERAL';
const ADMIN = 'U0ADMIN';

interface BotProcess {
  name: string;
  child: ChildProcess;
  slackUrl: string;
  metricsUrl: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Polls (real time) until check returns a truthy value. */
async function waitFor<T>(check: () => T | undefined | false | null | Promise<T | undefined | false | null>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (!PG_URL) {
  describe.skip('two bot processes on PostgreSQL (set TEST_DATABASE_URL to run)', () => {
    it('needs TEST_DATABASE_URL', () => undefined);
  });
} else {
  describe('two bot processes on one PostgreSQL', () => {
    const schema = `sb_multi_${process.pid}_${randomBytes(3).toString('hex')}`;
    const databaseUrl = (() => {
      const url = new URL(PG_URL);
      url.searchParams.set('schema', schema);
      return url.toString();
    })();
    let openrouter: FakeOpenRouter;
    let slack: FakeSlack;
    let discord: FakeDiscord;
    /** A channel of the second guild, which is on the other shard. */
    let awayChannel: FakeChannel;
    let proxy: Spawned;
    let proxyUrl: string;
    let store: Store;
    let a: BotProcess;
    let b: BotProcess;

    async function startBot(name: string, shard: number): Promise<BotProcess> {
      const [slackPort, metricsPort] = await Promise.all([freePort(), freePort()]);
      const spawned: Spawned = spawnBot({
        OPENROUTER_API_KEY: KEY,
        OPENROUTER_BASE_URL: openrouter.url,
        DATABASE_URL: databaseUrl,
        DEFAULT_MODEL: 'openai/gpt-4o-mini',
        DEFAULT_TOOLS: '',
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_SIGNING_SECRET: slack.signingSecret,
        SLACK_API_URL: slack.apiUrl,
        SLACK_PORT: String(slackPort),
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
        ADMIN_USER_IDS: `slack:${ADMIN}`,
        QUOTA_DEFAULT_REQUESTS_PER_DAY: '3',
        QUOTA_MAX_CONCURRENT: '20',
        SHUTDOWN_GRACE_MS: '800',
        DISCORD_TOKEN: discord.token,
        DISCORD_API_URL: `${proxyUrl}/api`,
        SHARD_COUNT: '2',
        SHARD_IDS: String(shard),
      });
      return {
        name,
        child: spawned.child,
        slackUrl: `http://127.0.0.1:${slackPort}/slack/events`,
        metricsUrl: `http://127.0.0.1:${metricsPort}`,
        output: spawned.output,
        exited: spawned.exited,
      };
    }

    async function ready(bot: BotProcess): Promise<void> {
      await waitFor(
        async () => {
          if (bot.child.exitCode !== null) throw new Error(`${bot.name} exited:\n${bot.output()}`);
          try {
            return (await fetch(`${bot.metricsUrl}/healthz`)).status === 200;
          } catch {
            return false;
          }
        },
        `${bot.name} to be healthy`,
        45_000,
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; its output:\n${bot.output()}`);
      });
    }

    /** Delivers a signed slash command to one process (the load balancer's pick). */
    function slash(bot: BotProcess, user: string, command: string, text: string) {
      slack.receiverUrl = bot.slackUrl;
      return slack.slashCommand({ command, text, user, channel: CHANNEL });
    }

    const promptsSent = (marker: string) =>
      openrouter.chatRequests().filter((r) => r.body?.messages.some((m) => m.role === 'user' && String(m.content ?? '').includes(marker)));

    beforeAll(async () => {
      openrouter = await startFakeOpenRouter({ apiKey: KEY });
      slack = await startFakeSlack();
      for (const [id, name] of [
        ['U0ALICE', 'alice'],
        ['U0BOB', 'bob'],
        ['U0CAROL', 'carol'],
        ['U0DAN', 'dan'],
        ['U0ERIN', 'erin'],
        ['U0FRAN', 'Fran'],
        ['U0GUS', 'Gus'],
      ] as const) {
        slack.addUser({ id, name, realName: name });
      }
      slack.addUser({ id: ADMIN, name: 'wanda', realName: 'Wanda Admin', isAdmin: true });
      openrouter.setDefault((body) => {
        const prompt = body.messages.filter((m) => m.role === 'user').map((m) => String(m.content ?? '')).join(' ');
        if (prompt.includes('long-answer')) return { text: Array.from({ length: 400 }, (_, i) => `word${i} `), chunkDelayMs: 20 };
        if (prompt.includes('stoppable-two')) return { text: Array.from({ length: 400 }, (_, i) => `halt${i} `), chunkDelayMs: 20 };
        if (prompt.includes('stoppable')) return { text: Array.from({ length: 400 }, (_, i) => `stop${i} `), chunkDelayMs: 20 };
        if (prompt.includes('quota-q')) return { text: ['counted ', 'answer'], chunkDelayMs: 30 };
        return { text: ['Hello ', 'from ', 'the ', 'fake'] };
      });
      discord = await startFakeDiscord();
      // A second guild on the other of two shards (a guild's shard is its id's timestamp bits mod 2).
      const home = shardOfGuild(discord.guildId, 2);
      let away = discord.addGuild();
      while (shardOfGuild(away, 2) === home) {
        await sleep(1);
        away = discord.addGuild();
      }
      awayChannel = discord.addChannel('away', away);
      const proxyPort = await freePort();
      proxyUrl = `http://127.0.0.1:${proxyPort}`;
      proxy = spawnEntry('src/ops/discord-proxy.ts', { DISCORD_PROXY_PORT: String(proxyPort), DISCORD_PROXY_UPSTREAM: discord.apiUrl });
      await waitFor(async () => {
        if (proxy.child.exitCode !== null) throw new Error(`the proxy exited:\n${proxy.output()}`);
        return fetch(`${proxyUrl}/healthz`).then((r) => r.ok, () => false);
      }, 'the Discord proxy');
      [a, b] = await Promise.all([startBot('A', home), startBot('B', 1 - home)]);
      await Promise.all([ready(a), ready(b)]);
      await waitFor(() => discord.gateway.readyShards === 2, 'both shards identified');
      store = await createStore(PG_URL, { logger: pino({ level: 'silent' }), schema });
    }, 90_000);

    afterAll(async () => {
      for (const bot of [a, b]) if (bot && bot.child.exitCode === null) bot.child.kill('SIGKILL');
      if (proxy && proxy.child.exitCode === null) proxy.child.kill('SIGKILL');
      await discord?.close();
      await store?.close();
      await slack?.close();
      await openrouter?.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    });

    it('uses a model set through one process in the other', async () => {
      const delivery = await slash(a, ADMIN, '/model', 'set anthropic/claude-3.5-sonnet server');
      expect(delivery.status).toBe(200);
      await waitFor(() => slack.responses.find((r) => String(r.body.text).includes('anthropic/claude-3.5-sonnet')), 'the /model set reply');

      await slash(b, 'U0ALICE', '/ask', 'which-model are you');
      const [request] = await waitFor(() => (promptsSent('which-model').length > 0 ? promptsSent('which-model') : undefined), 'the /ask through B');
      expect(request!.body?.model).toBe('anthropic/claude-3.5-sonnet');
    });

    it('holds a per-user quota across both under concurrent requests', async () => {
      const deliveries = Array.from({ length: 10 }, (_, i) => slash(i % 2 === 0 ? a : b, 'U0BOB', '/ask', `quota-q${i}`));
      expect((await Promise.all(deliveries)).map((d) => d.status)).toEqual(Array(10).fill(200));
      const rows = await waitFor(async () => {
        const ledger = await store.ledger({ userId: 'U0BOB' });
        return ledger.length === 10 ? ledger : undefined;
      }, 'ten ledger rows for bob');
      expect(rows.filter((r) => r.outcome === 'ok')).toHaveLength(3);
      expect(rows.filter((r) => r.outcome === 'refused')).toHaveLength(7);
      expect(promptsSent('quota-q')).toHaveLength(3);
      await waitFor(() => slack.ephemerals.filter((e) => e.text.includes('daily request limit')).length === 7, 'seven refusals');
      // Both processes took part.
      expect(a.output()).toContain('"user":"U0BOB"');
      expect(b.output()).toContain('"user":"U0BOB"');
    });

    it('answers a Slack event delivered to both processes once', async () => {
      slack.receiverUrl = a.slackUrl;
      const first = slack.mention({ user: 'U0CAROL', channel: CHANNEL, text: '<@U0BOT> dedup-check please', eventId: 'EvTWICE0001' });
      slack.receiverUrl = b.slackUrl;
      const second = slack.redeliver({ status: 0, body: '', eventId: 'EvTWICE0001' }, 0);
      expect((await Promise.all([first, second])).map((d) => d.status)).toEqual([200, 200]);
      const ts = (await first).ts!;
      await waitFor(async () => (await store.ledger({ userId: 'U0CAROL' })).length === 1, 'the answer to be settled');
      await sleep(400);
      expect(promptsSent('dedup-check')).toHaveLength(1);
      expect(slack.botMessages(CHANNEL, ts)).toHaveLength(1);
      expect(await store.ledger({ userId: 'U0CAROL' })).toHaveLength(1);
    });

    /** The answer message showing `word` with its Stop button, and the request id the button carries. */
    async function streamingAnswer(word: string) {
      const message = await waitFor(
        () => slack.botMessages(CHANNEL).find((m) => slack.visibleText(m).includes(word) && m.blocks?.some((b) => b.type === 'actions')),
        `an answer showing ${word}`,
      );
      const button = message.blocks!.find((b) => b.type === 'actions')!.elements![0]!;
      return { message, requestId: String(button.value) };
    }
    const finalText = (ts: string) => slack.visibleText(slack.botMessages(CHANNEL).find((m) => m.ts === ts)!);

    it('Stop works across processes: the Stop button pressed on the process that is not answering stops the answer where it runs; it settles once', async () => {
      await slash(a, 'U0FRAN', '/ask', 'stoppable-one please');
      const { message, requestId } = await streamingAnswer('stop0 ');
      // A runs it; B knows it only through the store.
      const [tracked] = await store.activeAnswers({ platform: 'slack', workspaceId: slack.teamId, requestId });
      expect(tracked?.owner).toContain(`:${a.child.pid}:`);

      // Someone else, through B: refused, checked against the asker recorded in the store.
      slack.receiverUrl = b.slackUrl;
      await slack.clickButton({ user: 'U0GUS', channel: CHANNEL, messageTs: message.ts, actionId: 'switchboard_stop', value: requestId });
      await waitFor(() => slack.ephemerals.find((e) => e.text.includes('Only the person who asked')), 'the refusal');

      // The asker, through B.
      await slack.clickButton({ user: 'U0FRAN', channel: CHANNEL, messageTs: message.ts, actionId: 'switchboard_stop', value: requestId });
      await waitFor(() => finalText(message.ts).includes('Stopped by Fran'), 'the answer to end stopped', 5_000);
      expect(finalText(message.ts)).not.toContain('stop399');
      const rows = await waitFor(async () => {
        const ledger = await store.ledger({ userId: 'U0FRAN' });
        return ledger.length === 1 && ledger;
      }, 'the stopped answer to settle');
      expect(rows[0]).toMatchObject({ requestId, outcome: 'cancelled' });
      await sleep(400);
      expect(await store.ledger({ userId: 'U0FRAN' })).toHaveLength(1);
      expect(b.output()).toContain('stop button pressed');
      expect(a.output()).toContain('stop requested through another process');
    });

    it('Stop works across processes: /stop on the other process stops the user’s own answer', async () => {
      await slash(a, 'U0GUS', '/ask', 'stoppable-two please');
      const { message, requestId } = await streamingAnswer('halt0 ');
      await slash(b, 'U0GUS', '/stop', '');
      await waitFor(() => slack.ephemerals.find((e) => e.text.includes('Stopped 1 answer')), 'the /stop reply');
      await waitFor(() => finalText(message.ts).includes('Stopped by Gus'), 'the answer to end stopped', 5_000);
      const rows = await waitFor(async () => {
        const ledger = await store.ledger({ userId: 'U0GUS' });
        return ledger.length === 1 && ledger;
      }, 'the stopped answer to settle');
      expect(rows[0]).toMatchObject({ requestId, outcome: 'cancelled' });
    });

    it('serves Discord as a fleet: each process answers its own shard’s guild, every REST call through the one proxy', async () => {
      const { alice, bob } = discord.users;
      await discord.runCommand({ user: alice, channelId: discord.channels.general.id, name: 'ask', options: { prompt: 'home-shard question' } });
      await discord.runCommand({ user: bob, channelId: awayChannel.id, name: 'ask', options: { prompt: 'away-shard question' } });
      const answered = (channelId: string) => discord.botMessages(channelId).some((m) => m.content.includes('Hello from the fake'));
      await waitFor(() => answered(discord.channels.general.id) && answered(awayChannel.id), 'both Discord answers');
      expect(promptsSent('home-shard')).toHaveLength(1);
      expect(promptsSent('away-shard')).toHaveLength(1);
      // Each guild's events reached only the process serving its shard (the answer's log line names its user).
      await waitFor(() => a.output().includes(`"user":"${alice.id}"`) && b.output().includes(`"user":"${bob.id}"`), 'both answers logged');
      expect(a.output()).not.toContain(`"user":"${bob.id}"`);
      expect(b.output()).not.toContain(`"user":"${alice.id}"`);
      expect(discord.violations).toEqual([]);
      expect(discord.requests.filter((r) => r.status === 429)).toEqual([]);
      // The proxy forwarded them: it counts what it answered and says so when stopped.
      proxy.child.kill('SIGTERM');
      expect(await proxy.exited).toBe(0);
      const stopped = JSON.parse(proxy.output().split('\n').find((line) => line.includes('discord proxy stopping'))!) as { responses: Record<string, number> };
      expect(stopped.responses['200']).toBeGreaterThan(3);
      expect(proxy.output()).not.toContain(discord.token);
    });

    it('shuts down on SIGTERM: refuses new requests, interrupts the long answer, settles it and exits 0', async () => {
      await slash(a, 'U0DAN', '/ask', 'a long-answer please');
      await waitFor(() => promptsSent('long-answer').length === 1, 'the long answer to start');
      await sleep(200);
      a.child.kill('SIGTERM');
      await waitFor(() => a.output().includes('shutting down'), 'A to start shutting down');
      await slash(a, 'U0ERIN', '/ask', 'too-late question');
      await waitFor(() => slack.ephemerals.find((e) => e.text.includes(RESTARTING_MESSAGE.slice(0, 30))), 'the restarting message');

      expect(await a.exited).toBe(0);
      const [row] = await store.ledger({ userId: 'U0DAN' });
      expect(row?.outcome).toBe('interrupted');
      expect(promptsSent('too-late')).toHaveLength(0);
      const answer = slack.botMessages(CHANNEL).find((m) => slack.visibleText(m).includes('word0 '));
      expect(answer).toBeDefined();
      expect(slack.visibleText(answer!).trimEnd().endsWith(INTERRUPTED_LINE)).toBe(true);

      // B is unaffected, and stops at once when idle.
      expect((await fetch(`${b.metricsUrl}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`${b.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/switchboard_quota_refusals_total\{platform="slack"\} [1-9]/);
      b.child.kill('SIGTERM');
      expect(await b.exited).toBe(0);
    });
  });
}
