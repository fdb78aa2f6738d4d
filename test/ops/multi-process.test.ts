/**
 * The fleet of docs/DEPLOY.md, small: two real bot processes (`src/main.ts`
 * through tsx, as npm start runs it) on one PostgreSQL schema and one
 * `npm run discord:proxy` process (src/ops/discord-proxy.ts), against the fake
 * Slack (HTTP mode), the fake Discord (two guilds on two shards, one shard per
 * process, every REST call through the proxy: the bots know no other Discord
 * URL) and the fake OpenRouter, all on 127.0.0.1. They share settings, quotas,
 * the ledger and Slack event deduplication; DEPLOY.md's rollout (the proxy,
 * then each bot, restarted one at a time behind a health-checking balancer)
 * loses and doubles nothing; SIGTERM shuts one down gracefully.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTARTING_MESSAGE } from '../../src/core/errors.ts';
import { INTERRUPTED_LINE } from '../../src/core/pipeline.ts';
import { createStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startBalancer, type Balancer } from '../helpers/balancer.ts';
import { freePort, healthy, startAgain, startBot as startFleetBot, startProcess, waitFor, type FleetBot, type FleetProcess } from '../helpers/fleet.ts';
import { shardOfGuild } from '../fakes/discord-gateway.ts';
import type { FakeInteraction } from '../fakes/discord-world.ts';
import { startFakeDiscord, type FakeChannel, type FakeDiscord } from '../fakes/discord.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';

const KEY = 'sk-or-v1-multi-process-abcdef123456';
const PG_URL = postgresTestUrl('the two-process test');
const CHANNEL = 'C0GENERAL';
const ADMIN = 'U0ADMIN';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Without TEST_DATABASE_URL the suite shows as skipped (postgresTestUrl says why; REQUIRE_POSTGRES_TESTS=1 fails instead).
describe.skipIf(!PG_URL)('two bot processes on one PostgreSQL', () => {
  const schema = `sb_multi_${process.pid}_${randomBytes(3).toString('hex')}`;
  /** PG_URL with `?schema=` (set in beforeAll: this body also runs, to list the skipped tests, without a URL). */
  let databaseUrl: string;
  let openrouter: FakeOpenRouter;
  let slack: FakeSlack;
  let discord: FakeDiscord;
  /** A channel of the second guild, which is on the other shard. */
  let awayChannel: FakeChannel;
  /** A second channel in each guild (home, away), which the rollout asks in once a bot is back. */
  let quietChannels: [FakeChannel, FakeChannel];
  let proxy: FleetProcess;
  let proxyUrl: string;
  let store: Store;
  let a: FleetBot;
  let b: FleetBot;

  function startBot(name: string, shard: number): Promise<FleetBot> {
    return startFleetBot(name, {
      OPENROUTER_API_KEY: KEY,
      OPENROUTER_BASE_URL: openrouter.url,
      DATABASE_URL: databaseUrl,
      DEFAULT_MODEL: 'openai/gpt-4o-mini',
      DEFAULT_TOOLS: '',
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: slack.signingSecret,
      SLACK_API_URL: slack.apiUrl,
      ADMIN_USER_IDS: `slack:${ADMIN}`,
      QUOTA_DEFAULT_REQUESTS_PER_DAY: '3',
      QUOTA_MAX_CONCURRENT: '20',
      SHUTDOWN_GRACE_MS: '800',
      DISCORD_TOKEN: discord.token,
      DISCORD_API_URL: `${proxyUrl}/api`,
      SHARD_COUNT: '2',
      SHARD_IDS: String(shard),
    });
  }

  /** Delivers a signed slash command to one process (the load balancer's pick). */
  function slash(bot: FleetBot, user: string, command: string, text: string) {
    slack.receiverUrl = bot.slackUrl;
    return slack.slashCommand({ command, text, user, channel: CHANNEL });
  }

  const promptsSent = (marker: string) =>
    openrouter.chatRequests().filter((r) => r.body?.messages.some((m) => m.role === 'user' && String(m.content ?? '').includes(marker)));
  /** Model requests asking `marker`'s question (not merely carrying it in the history). */
  const questionsSent = (marker: string) =>
    openrouter.chatRequests().filter((r) => String(r.body?.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '').includes(marker));

  beforeAll(async () => {
    const url = new URL(PG_URL!);
    url.searchParams.set('schema', schema);
    databaseUrl = url.toString();
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
    slack.addUser({ id: QUOTA_USER, name: 'quinn', realName: 'Quinn' });
    openrouter.setDefault((body) => {
      const prompt = body.messages.filter((m) => m.role === 'user').map((m) => String(m.content ?? '')).join(' ');
      if (prompt.includes('long-answer')) return { text: Array.from({ length: 400 }, (_, i) => `word${i} `), chunkDelayMs: 20 };
      if (prompt.includes('stoppable-two')) return { text: Array.from({ length: 400 }, (_, i) => `halt${i} `), chunkDelayMs: 20 };
      if (prompt.includes('stoppable')) return { text: Array.from({ length: 400 }, (_, i) => `stop${i} `), chunkDelayMs: 20 };
      if (prompt.includes('rolling-long')) return { text: Array.from({ length: 300 }, (_, i) => `rl${i} `), chunkDelayMs: 30 };
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
    quietChannels = [discord.addChannel('home-quiet'), discord.addChannel('away-quiet', away)];
    const proxyPort = await freePort();
    proxyUrl = `http://127.0.0.1:${proxyPort}`;
    proxy = startProcess('the proxy', 'src/ops/discord-proxy.ts', { DISCORD_PROXY_PORT: String(proxyPort), DISCORD_PROXY_UPSTREAM: discord.apiUrl }, `${proxyUrl}/healthz`);
    await healthy(proxy);
    [a, b] = await Promise.all([startBot('A', home), startBot('B', 1 - home)]);
    await Promise.all([healthy(a), healthy(b)]);
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
    const client = new pg.Client({ connectionString: PG_URL! });
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
  });

  it('rolls out one process at a time as docs/DEPLOY.md says: the proxy, then each bot, with answers in flight; nothing lost, nothing twice', async () => {
    const startedAt = new Date(Date.now() - 1000);
    // The balancer of DEPLOY.md's table: round-robin over the SLACK_PORTs, health check GET /healthz on each METRICS_PORT.
    const balancer = await startBalancer(
      [a, b].map((bot) => ({ port: bot.slackPort, healthUrl: bot.healthUrl })),
      { healthIntervalMs: 100 },
    );
    try {
      const asked = await rollOut(balancer);
      await expectEachAnsweredOnce(asked, startedAt);
    } finally {
      await balancer.close();
    }
  }, 60_000);

  /** What a request sent during the rollout must end as. */
  type Expected = 'ok' | 'interrupted' | 'restarting' | 'refused';
  interface Asked {
    platform: 'slack' | 'discord';
    workspaceId: string;
    user: string;
    /** In the prompt: finds the model requests it caused. */
    marker: string;
    expected: Expected;
    /** Slack: the mention's ts (the answer's thread). */
    ts?: string;
    interaction?: FakeInteraction;
    /** Text the finished answer shows. */
    shows?: string;
  }

  const QUOTA_USER = 'U0QUOTA';

  async function rollOut(balancer: Balancer): Promise<Asked[]> {
    const asked: Asked[] = [];
    let users = 0;
    let questions = 0;
    const toBalancer = `${balancer.url}/slack/events`;

    /** A mention through the balancer (or straight to `via`), by a new user unless `user` is given. */
    const slackAsk = async (expected: Expected, text: string, options: { user?: string; via?: string } = {}) => {
      let user = options.user;
      if (user === undefined) {
        user = `U0ROLL${++users}`;
        slack.addUser({ id: user, name: `roll${users}`, realName: `Roll ${users}` });
      }
      const marker = `[rq${++questions}]`;
      slack.receiverUrl = options.via ?? toBalancer;
      const delivery = await slack.mention({ user, channel: CHANNEL, text: `<@${slack.botUserId}> ${text} ${marker}` });
      slack.receiverUrl = toBalancer;
      expect(delivery.status).toBe(200);
      const entry: Asked = { platform: 'slack', workspaceId: slack.teamId, user, marker, expected, ts: delivery.ts!, shows: text.includes('rolling-long') ? 'rl299' : 'Hello from the fake' };
      asked.push(entry);
      return entry;
    };
    /** A long Slack answer that the balancer gives to backend `index` (a short question goes first if the other is next in turn). */
    const slackLongOn = async (index: number) => {
      if (balancer.peek() !== index) await slackAsk('ok', 'a filler question');
      expect(balancer.peek()).toBe(index);
      return slackAsk('interrupted', 'rolling-long');
    };
    const discordAsk = async (expected: Expected, channelId: string, text: string) => {
      const user = discord.addUser(`roll${++users}`);
      const marker = `[rq${++questions}]`;
      const interaction = await discord.runCommand({ user, channelId, name: 'ask', options: { prompt: `${text} ${marker}` } });
      const entry: Asked = {
        platform: 'discord',
        workspaceId: discord.channel(channelId)!.guild_id!,
        user: user.id,
        marker,
        expected,
        interaction,
        shows: text.includes('rolling-long') ? 'rl299' : 'Hello from the fake',
      };
      asked.push(entry);
      return entry;
    };
    const discordText = (q: Asked) =>
      discord
        .interactionMessages(q.interaction!)
        .map((m) => m.content)
        .join('\n');
    const slackText = (q: Asked) =>
      slack
        .botMessages(CHANNEL, q.ts)
        .map((m) => slack.visibleText(m))
        .join('\n');
    const showing = (q: Asked, text: string) => (q.platform === 'discord' ? discordText(q) : slackText(q)).includes(text);

    // 1. The proxy: SIGTERM and start again, while each shard has an answer being written through it.
    const throughProxy = [await discordAsk('ok', discord.channels.general.id, 'rolling-long'), await discordAsk('ok', awayChannel.id, 'rolling-long')];
    await waitFor(() => throughProxy.every((q) => showing(q, 'rl0 ')), 'both Discord answers streaming');
    const marks = [a.output().length, b.output().length];
    proxy.child.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
    // It counts what it answered and says so when stopped; it never logs the bots' token.
    const stopped = JSON.parse(proxy.output().split('\n').find((line) => line.includes('discord proxy stopping'))!) as { responses: Record<string, number> };
    expect(stopped.responses['200']).toBeGreaterThan(3);
    expect(proxy.output()).not.toContain(discord.token);
    // Slack does not go through it.
    await slackAsk('ok', 'while the proxy restarts', { user: QUOTA_USER });
    // Both answers' next writes fail while it is down and are retried...
    await waitFor(
      () => a.output().slice(marks[0]).includes('message update failed; retrying') && b.output().slice(marks[1]).includes('message update failed; retrying'),
      'a failed Discord write on each bot',
    );
    proxy = startAgain(proxy);
    await healthy(proxy);
    // ...and land once it is back: both answers complete, not interrupted.
    await waitFor(() => throughProxy.every((q) => showing(q, 'rl299')), 'both Discord answers complete', 20_000);

    // 2. Each bot in turn.
    const restart = async (bot: FleetBot, index: number, channelId: string, quietChannelId: string, other: FleetBot): Promise<FleetBot> => {
      // Answering on both platforms when the signal comes.
      const onDiscord = await discordAsk('interrupted', channelId, 'rolling-long');
      const onSlack = await slackLongOn(index);
      await waitFor(() => showing(onDiscord, 'rl0 ') && showing(onSlack, 'rl0 '), `both answers streaming on ${bot.name}`);

      // 2.1 kill -TERM: /healthz answers 503 from the first moment, so the balancer stops sending it Slack events.
      const otherMark = other.output().length;
      bot.child.kill('SIGTERM');
      await waitFor(() => bot.output().includes('shutting down'), `${bot.name} to start shutting down`);
      const health = await fetch(bot.healthUrl);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ draining: true, down: ['shutting down'] });
      // A request that still reaches it is told the bot is restarting.
      await slackAsk('restarting', 'sent straight to the stopping bot', { via: bot.slackUrl });
      await waitFor(() => balancer.up()[index] === false, `the balancer to take ${bot.name} out`);
      const sentBefore = [...balancer.sent];
      const whileStopping = [
        ...(await Promise.all([1, 2, 3].map(() => slackAsk('ok', 'while a bot stops')))),
        await slackAsk('ok', 'the quota user while a bot stops', { user: QUOTA_USER }),
      ];
      expect(await bot.exited).toBe(0);
      expect(showing(onDiscord, INTERRUPTED_LINE) && showing(onSlack, INTERRUPTED_LINE)).toBe(true);

      // 2.2 The same Procfile line again (same SHARD_IDS, same ports).
      const next = startAgain(bot);
      const whileStarting = await Promise.all([1, 2].map(() => slackAsk('ok', 'while a bot starts')));
      expect(balancer.sent[index]).toBe(sentBefore[index]);
      expect(balancer.sent[1 - index]).toBe(sentBefore[1 - index]! + whileStopping.length + whileStarting.length);
      // All answered by the other bot.
      await waitFor(() => [...whileStopping, ...whileStarting].every((q) => showing(q, 'Hello from the fake')), 'the Slack answers during the restart');
      await waitFor(
        () => [...whileStopping, ...whileStarting].every((q) => other.output().slice(otherMark).includes(`"user":"${q.user}"`)),
        `${other.name} to log each of those answers`,
      );

      // 2.3 Wait for GET /healthz 200: the balancer sends to it again, and its shard's guild is answered again, by it.
      // (Asked in another channel than the one the old process wrote to until it stopped: the new process cannot know
      // those writes, and its answer's edits go by the interaction's token, which the proxy buckets per token, while the
      // fake Discord counts them against the channel's 5 writes in 5 s, so they could exceed it there.)
      await healthy(next);
      await waitFor(() => balancer.up()[index] === true, `the balancer to take ${bot.name} back`);
      await waitFor(() => discord.gateway.readyShards === 2, 'both shards identified');
      const again = await discordAsk('ok', quietChannelId, 'after the restart');
      await waitFor(() => showing(again, 'Hello from the fake'), `the new ${bot.name} to answer its guild`);
      await waitFor(() => next.output().includes(`"user":"${again.user}"`), `the new ${bot.name} to log the answer`);
      expect(other.output()).not.toContain(`"user":"${again.user}"`);
      return next;
    };
    a = await restart(a, 0, discord.channels.general.id, quietChannels[0].id, b);
    b = await restart(b, 1, awayChannel.id, quietChannels[1].id, a);

    // Both take Slack events again; the quota user's fourth question of the day is refused.
    const after = await Promise.all([1, 2].map(() => slackAsk('ok', 'after the rollout')));
    await slackAsk('refused', 'the quota user after the rollout', { user: QUOTA_USER });
    await waitFor(() => after.every((q) => showing(q, 'Hello from the fake')), 'the Slack answers after the rollout');
    await waitFor(
      () => after.some((q) => a.output().includes(`"user":"${q.user}"`)) && after.some((q) => b.output().includes(`"user":"${q.user}"`)),
      'both bots to answer Slack again',
    );
    return asked;
  }

  /** Every request: answered once, interrupted once with the visible line, or told why not (restarting, quota); one ledger row each that reached the bot. */
  async function expectEachAnsweredOnce(asked: Asked[], from: Date): Promise<void> {
    const settled = asked.filter((q) => q.expected !== 'restarting');
    const rows = await waitFor(async () => {
      const ledger = (await store.ledger({ from })).filter((r) => asked.some((q) => q.user === r.userId));
      return ledger.length >= settled.length && ledger;
    }, 'a ledger row for each request');
    await sleep(300);
    expect((await store.ledger({ from })).filter((r) => asked.some((q) => q.user === r.userId))).toHaveLength(settled.length);
    expect(new Set(rows.map((r) => r.requestId)).size).toBe(rows.length);
    const byUser = new Map<string, Asked[]>();
    for (const q of asked) byUser.set(q.user, [...(byUser.get(q.user) ?? []), q]);
    for (const [user, mine] of byUser) {
      const outcomes = rows.filter((r) => r.userId === user).map((r) => r.outcome);
      const expected = mine.filter((q) => q.expected !== 'restarting').map((q) => (q.expected === 'refused' ? 'refused' : q.expected));
      expect({ user, outcomes: outcomes.sort() }).toEqual({ user, outcomes: expected.sort() });
      // Quotas intact: nothing left reserved by a process that went away.
      const usage = await store.usage(mine[0]!.platform, mine[0]!.workspaceId, user, new Date());
      expect({ user, reserved: usage.reserved.requests }).toEqual({ user, reserved: 0 });
    }
    const quota = await store.usage('slack', slack.teamId, QUOTA_USER, new Date());
    expect(quota.day.requests).toBe(3);

    for (const q of asked) {
      const what = `${q.platform} ${q.marker} (${q.expected})`;
      expect({ what, prompts: questionsSent(q.marker).length }).toEqual({ what, prompts: q.expected === 'ok' || q.expected === 'interrupted' ? 1 : 0 });
      if (q.platform === 'discord') {
        const text = discord
          .interactionMessages(q.interaction!)
          .map((m) => m.content)
          .join('\n');
        if (q.expected === 'ok') expect({ what, text }).toMatchObject({ what, text: expect.stringContaining(q.shows!) });
        else expect({ what, text }).toMatchObject({ what, text: expect.stringContaining(INTERRUPTED_LINE) });
        // Settled on screen too: no message of it still offers Stop.
        const stops = discord.interactionMessages(q.interaction!).filter((m) => JSON.stringify(m.components).includes('sb:stop'));
        expect({ what, stops }).toEqual({ what, stops: [] });
        continue;
      }
      const answers = slack.botMessages(CHANNEL, q.ts).map((m) => slack.visibleText(m));
      const told = slack.ephemerals.filter((e) => e.user === q.user && (e.text.includes(RESTARTING_MESSAGE) || e.text.includes('daily request limit')));
      if (q.expected === 'ok') expect({ what, answers }).toEqual({ what, answers: [expect.stringContaining(q.shows!)] });
      if (q.expected === 'interrupted') expect({ what, answers: answers.map((t) => t.trimEnd().endsWith(INTERRUPTED_LINE)) }).toEqual({ what, answers: [true] });
      if (q.expected === 'restarting' || q.expected === 'refused') {
        expect({ what, answers }).toEqual({ what, answers: [] });
        expect({ what, told: told.map((e) => e.text.includes(q.expected === 'restarting' ? RESTARTING_MESSAGE : 'daily request limit')) }).toEqual({ what, told: [true] });
      }
    }
    expect(discord.violations).toEqual([]);
    expect(slack.violations).toEqual([]);
  }

  it('shuts down on SIGTERM: refuses new requests, interrupts the long answer, settles it and exits 0', async () => {
    await slash(a, 'U0DAN', '/ask', 'a long-answer please');
    await waitFor(() => promptsSent('long-answer').length === 1, 'the long answer to start');
    await sleep(200);
    a.child.kill('SIGTERM');
    await waitFor(() => a.output().includes('shutting down'), 'A to start shutting down');
    const toldBefore = slack.ephemerals.filter((e) => e.text.includes(RESTARTING_MESSAGE)).length;
    await slash(a, 'U0ERIN', '/ask', 'too-late question');
    await waitFor(() => slack.ephemerals.filter((e) => e.text.includes(RESTARTING_MESSAGE)).length === toldBefore + 1, 'the restarting message');

    expect(await a.exited).toBe(0);
    const [row] = await store.ledger({ userId: 'U0DAN' });
    expect(row?.outcome).toBe('interrupted');
    expect(promptsSent('too-late')).toHaveLength(0);
    const answer = slack.botMessages(CHANNEL).find((m) => slack.visibleText(m).includes('word0 '));
    expect(answer).toBeDefined();
    expect(slack.visibleText(answer!).trimEnd().endsWith(INTERRUPTED_LINE)).toBe(true);

    // B is unaffected (its /metrics counts the Discord answer it gave since it restarted), and stops at once when idle.
    expect((await fetch(`${b.metricsUrl}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${b.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_requests_total\{platform="discord",outcome="ok"[^}]*\} [1-9]/);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  });
});
