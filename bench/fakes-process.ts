/**
 * The benchmark's other process: the fake OpenRouter, Discord and Slack from
 * test/fakes, plus the simulated users who send commands and mentions and
 * time what the platforms receive. Driven over IPC by bench/run.ts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { shardOfGuild } from '../test/fakes/discord-gateway.ts';
import { startFakeDiscord, type FakeDiscord, type FakeUser as DiscordUser, type RecordedDiscordRequest } from '../test/fakes/discord.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../test/fakes/openrouter.ts';
import { startFakeSlack, type ApiCall, type FakeSlack } from '../test/fakes/slack.ts';
import {
  answerFor,
  BENCH_API_KEY,
  chunksOf,
  promptFor,
  wallMs,
  type AnswerRecord,
  type PlatformCounters,
  type ToChild,
  type ToParent,
  type UpstreamShape,
} from './protocol.ts';

const FOOTER = /· [\d,.k]+ in \/ [\d,.k]+ out ·/;
/** A quota refusal, as the bot words it on both platforms. */
const REFUSAL = /reached your daily request limit/;

interface World {
  openrouter: FakeOpenRouter;
  discord: FakeDiscord;
  slack: FakeSlack;
  discordChannels: string[];
  discordUsers: DiscordUser[];
  slackChannels: string[];
  slackUsers: string[];
}

/** Per-answer progress, keyed by the Discord interaction id or the Slack thread ts. */
interface Progress {
  firstTextAt?: number;
  finalAt?: number;
  finalText?: string;
  refused?: boolean;
  writes: number;
  done?: () => void;
}

let world: World | undefined;
const discordProgress = new Map<string, Progress>();
const slackProgress = new Map<string, Progress>();
/** Slack stream message ts -> thread ts. */
const slackStreams = new Map<string, string>();
/** Interaction token -> id (the fake's own lookup scans every interaction). */
const interactionsByToken = new Map<string, string>();

function send(message: ToParent): void {
  process.send!(message);
}

function progressOf(map: Map<string, Progress>, key: string): Progress {
  let p = map.get(key);
  if (!p) {
    p = { writes: 0 };
    map.set(key, p);
  }
  return p;
}

function finish(p: Progress, at: number, text: string): void {
  if (p.finalAt !== undefined) return;
  p.finalAt = at;
  p.finalText = text;
  p.refused = REFUSAL.test(text);
  p.done?.();
}

async function start(channels: number, users: number, upstream: UpstreamShape, shards = 1, ackDeadlineMs?: number): Promise<World & { channelGuilds: string[] }> {
  const openrouter = await startFakeOpenRouter({ apiKey: BENCH_API_KEY, recordRequests: false });
  openrouter.setDefault((body) => {
    const last = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const tag = /bench (\S+)/.exec(last)?.[1] ?? 'unknown';
    return { text: chunksOf(answerFor(tag), upstream.chunks), firstTokenDelayMs: upstream.firstTokenDelayMs, chunkDelayMs: upstream.chunkDelayMs };
  });

  const discord = await startFakeDiscord(ackDeadlineMs === undefined ? {} : { ackDeadlineMs });
  // Two guilds on every shard (a guild's shard is its id's timestamp bits mod the count), or the one guild.
  const guilds = [discord.guildId];
  while (shards > 1 && Array.from({ length: shards }, (_, s) => guilds.filter((g) => shardOfGuild(g, shards) === s).length).some((n) => n < 2)) {
    const id = discord.addGuild();
    if (guilds.filter((g) => shardOfGuild(g, shards) === shardOfGuild(id, shards)).length < 2) guilds.push(id);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const channelGuilds = Array.from({ length: channels }, (_, i) => guilds[i % guilds.length]!);
  const discordChannels = channelGuilds.map((guild, i) => discord.addChannel(`bench-${i}`, guild).id);
  const discordUsers = Array.from({ length: users }, (_, i) => discord.addUser(`user${i}`));
  discord.onRequest((request) => onDiscordRequest(discord, request));

  const slack = await startFakeSlack();
  const slackChannels = Array.from({ length: channels }, (_, i) => `C0BENCH${String(i).padStart(4, '0')}`);
  const slackUsers = Array.from({ length: users }, (_, i) => {
    const id = `U0BENCH${String(i).padStart(4, '0')}`;
    slack.addUser({ id, name: `user${i}`, realName: `User ${i}` });
    return id;
  });
  slack.onCall((call, response) => onSlackCall(slack, call, response));
  return { openrouter, discord, slack, discordChannels, discordUsers, slackChannels, slackUsers, channelGuilds };
}

function onDiscordRequest(discord: FakeDiscord, request: RecordedDiscordRequest): void {
  if (request.method === 'GET' || request.status !== 200) return;
  const callback = /^\/interactions\/(\d+)\/[^/]+\/callback$/.exec(request.path);
  if (callback) {
    // A reply in the callback itself: only refusals (answers are deferred, then edited).
    const content = (request.body as { data?: { content?: unknown } } | undefined)?.data?.content;
    if (typeof content === 'string' && REFUSAL.test(content)) finish(progressOf(discordProgress, callback[1]!), wallMs(), content);
    return;
  }
  const token = /^\/webhooks\/\d+\/([^/]+)/.exec(request.path)?.[1];
  if (!token) return;
  let id = interactionsByToken.get(token);
  if (id === undefined) {
    id = discord.interactionOfPath(request.path)?.id;
    if (id === undefined) return;
    interactionsByToken.set(token, id);
  }
  const p = progressOf(discordProgress, id);
  p.writes += 1;
  const content = (request.body as { content?: unknown } | undefined)?.content;
  if (typeof content !== 'string' || content === '' || content.startsWith('…thinking')) return;
  const at = wallMs();
  p.firstTextAt ??= at;
  if (FOOTER.test(content) || REFUSAL.test(content)) finish(p, at, content);
}

function onSlackCall(slack: FakeSlack, call: ApiCall, response: Record<string, unknown>): void {
  if (!call.result.ok) return;
  const at = wallMs();
  const args = call.args;
  let thread: string | undefined;
  let text = '';
  switch (call.method) {
    case 'chat.startStream':
      thread = String(args.thread_ts);
      slackStreams.set(String(response.ts), thread);
      text = stringArg(args.markdown_text);
      break;
    case 'chat.appendStream':
    case 'chat.stopStream':
    case 'chat.update':
      thread = slackStreams.get(String(args.ts));
      text = stringArg(args.markdown_text) || stringArg(args.text);
      break;
    case 'chat.postEphemeral': {
      const refusal = stringArg(args.text);
      if (typeof args.thread_ts === 'string' && REFUSAL.test(refusal)) finish(progressOf(slackProgress, args.thread_ts), at, refusal);
      return;
    }
    case 'chat.postMessage':
    case 'chat.delete':
      thread = typeof args.thread_ts === 'string' ? args.thread_ts : undefined;
      break;
    default:
      return;
  }
  if (thread === undefined) return;
  const p = progressOf(slackProgress, thread);
  p.writes += 1;
  if (/Answer /.test(text)) p.firstTextAt ??= at;
  if (call.method === 'chat.stopStream') {
    const channel = String(args.channel);
    const message = slack.messages(channel, thread).find((m) => m.ts === String(args.ts));
    finish(p, at, message ? message.text : '');
  }
}

function stringArg(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function waitDone(p: Progress, timeoutMs: number): Promise<void> {
  if (p.finalAt !== undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    p.done = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function askDiscord(w: World, index: number, tag: string, timeoutMs: number): Promise<AnswerRecord> {
  const user = w.discordUsers[index % w.discordUsers.length]!;
  const channelId = w.discordChannels[index % w.discordChannels.length]!;
  const sentAt = wallMs();
  // A command the bot never acknowledges (the fake notes a violation) must not hang the run.
  const interaction = await Promise.race([
    w.discord.runCommand({ user, channelId, name: 'ask', options: { prompt: promptFor(tag) } }),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref()),
  ]);
  if (!interaction) return { platform: 'discord', tag, sentAt, correct: false, writes: 0 };
  const ackedAt = wallMs();
  const p = progressOf(discordProgress, interaction.id);
  await waitDone(p, timeoutMs);
  discordProgress.delete(interaction.id);
  return {
    platform: 'discord',
    tag,
    sentAt,
    ackedAt,
    firstTextAt: p.firstTextAt,
    finalAt: p.finalAt,
    correct: p.finalText?.startsWith(`${answerFor(tag)}\n\n`) ?? false,
    refused: p.refused ?? false,
    writes: p.writes,
  };
}

async function askSlack(w: World, index: number, tag: string, timeoutMs: number): Promise<AnswerRecord> {
  const user = w.slackUsers[index % w.slackUsers.length]!;
  const channel = w.slackChannels[index % w.slackChannels.length]!;
  const sentAt = wallMs();
  const delivery = await w.slack.mention({ user, channel, text: `<@${w.slack.botUserId}> ${promptFor(tag)}` });
  const p = progressOf(slackProgress, delivery.ts!);
  await waitDone(p, timeoutMs);
  slackProgress.delete(delivery.ts!);
  return {
    platform: 'slack',
    tag,
    sentAt,
    firstTextAt: p.firstTextAt,
    finalAt: p.finalAt,
    correct: p.finalText === answerFor(tag),
    refused: p.refused ?? false,
    writes: p.writes,
  };
}

function counters(w: World, since: { discordRequests: number; slackCalls: number; discordViolations: number; slackViolations: number }) {
  const discord: PlatformCounters = {
    rateLimited: w.discord.requests.slice(since.discordRequests).filter((r) => r.status === 429).length,
    violations: w.discord.violations.slice(since.discordViolations),
  };
  const slack: PlatformCounters = {
    rateLimited: w.slack.calls.slice(since.slackCalls).filter((c) => c.result.status === 429).length,
    violations: w.slack.violations.slice(since.slackViolations),
  };
  return { discord, slack };
}

async function run(w: World, message: Extract<ToChild, { type: 'run' }>): Promise<void> {
  const since = {
    discordRequests: w.discord.requests.length,
    slackCalls: w.slack.calls.length,
    discordViolations: w.discord.violations.length,
    slackViolations: w.slack.violations.length,
  };
  const started = wallMs();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu = process.cpuUsage();
  const jobs: Array<() => Promise<AnswerRecord>> = [];
  for (let i = 0; i < message.discord; i++) jobs.push(() => askDiscord(w, i, `r${message.id}d${i}`, message.timeoutMs));
  for (let i = 0; i < message.slack; i++) jobs.push(() => askSlack(w, i, `r${message.id}s${i}`, message.timeoutMs));
  const records: AnswerRecord[] = [];
  if (message.sequential) {
    for (const job of jobs) records.push(await job());
  } else {
    records.push(...(await Promise.all(jobs.map((job) => job()))));
  }
  const elapsedMs = wallMs() - started;
  loop.disable();
  const used = process.cpuUsage(cpu);
  const fakes = { loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6, cpuMs: (used.user + used.system) / 1000 };
  send({ type: 'ran', id: message.id, records, ...counters(w, since), elapsedMs, fakes });
}

process.on('message', (raw: ToChild) => {
  void (async () => {
    switch (raw.type) {
      case 'start': {
        const started = await start(raw.channels, raw.users, raw.upstream, raw.shards, raw.ackDeadlineMs);
        world = started;
        send({
          type: 'ready',
          openrouterUrl: world.openrouter.url,
          discord: {
            token: world.discord.token,
            apiUrl: world.discord.apiUrl,
            guildId: world.discord.guildId,
            userIds: world.discordUsers.map((u) => u.id),
            channelGuilds: started.channelGuilds,
          },
          slack: {
            apiUrl: world.slack.apiUrl,
            botToken: world.slack.botToken,
            signingSecret: world.slack.signingSecret,
            teamId: world.slack.teamId,
            userIds: world.slackUsers,
          },
        });
        break;
      }
      case 'shards':
        send({ type: 'shards', ready: world!.discord.gateway.readyShards });
        break;
      case 'slack-receiver':
        world!.slack.receiverUrl = raw.url;
        send({ type: 'ok' });
        break;
      case 'run':
        await run(world!, raw);
        break;
      case 'exit':
        if (world) {
          await world.discord.close();
          await world.slack.close();
          await world.openrouter.close();
        }
        process.exit(0);
    }
  })().catch((error: unknown) => {
    process.stderr.write(`bench fakes failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
});
