/**
 * Crash safety with the real entry point: `src/main.ts` serving Discord and
 * Slack (the fakes) streams 50 answers, is killed with SIGKILL half way, and is
 * started again on the same database. Nothing committed is lost or doubled,
 * the dead process's reservations stop holding anyone's quota, and the answers
 * it left half-written end with the interrupted note.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnBot } from '../helpers/entry-point.ts';
import { postgresTestUrl } from '../helpers/postgres.ts';
import { INTERRUPTED_NOTE } from '../../src/core/recovery.ts';
import { createStore } from '../../src/store/index.ts';
import type { LedgerEntry, Store } from '../../src/store/types.ts';
import { startFakeDiscord, type FakeChannel, type FakeDiscord } from '../fakes/discord.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { silentLogger } from '../store/harness.ts';
import { waitFor as poll, type Check } from '../helpers/wait.ts';

const KEY = 'sk-or-v1-crash-test-0123456789';
const SLACK_CHANNEL = 'C0GENERAL';
/** Exactly QUOTA_MAX_CONCURRENT answers, all hanging: the dead process's reservations hold this user's whole quota. */
const HELD_USER = 'U0HELD';
const SLACK_USERS = [HELD_USER, 'U0ANN', 'U0BEN', 'U0CAT'];
const MAX_CONCURRENT = 10;

const waitFor = <T>(check: Check<T>, what: string, timeoutMs = 15_000): Promise<T> => poll(check, what, timeoutMs, 25);

interface Database {
  url: string;
  /** Tracked answers whose message is known (read straight from the table). */
  refsStored(): Promise<number>;
  dispose(): Promise<void>;
}

function sqliteDatabase(dir: string): Database {
  const path = join(dir, 'switchboard.db');
  return {
    url: `sqlite:${path}`,
    async refsStored() {
      const db = new SqliteDatabase(path, { readonly: true });
      try {
        return (db.prepare('select count(*) as n from active_answers where message_ref is not null').get() as { n: number }).n;
      } finally {
        db.close();
      }
    },
    async dispose() {},
  };
}

function postgresDatabase(base: string): Database {
  const schema = `sb_crash_${process.pid}_${randomBytes(4).toString('hex')}`;
  const query = async <T,>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };
  return {
    url: `${base}${base.includes('?') ? '&' : '?'}schema=${schema}`,
    async refsStored() {
      const rows = await query<{ n: string }>(`select count(*) as n from "${schema}".active_answers where message_ref is not null`);
      return Number(rows[0]?.n ?? 0);
    },
    async dispose() {
      await query(`drop schema if exists "${schema}" cascade`);
    },
  };
}

const backends: Array<[string, (dir: string) => Database]> = [['SQLite', sqliteDatabase]];
const pgUrl = postgresTestUrl('the crash test');
if (pgUrl) backends.push(['PostgreSQL', () => postgresDatabase(pgUrl)]);

describe.each(backends)('SIGKILL with 50 answers streaming (%s)', (_name, makeDatabase) => {
  let dir: string;
  let database: Database;
  let store: Store;
  let openrouter: FakeOpenRouter;
  let discord: FakeDiscord;
  let slack: FakeSlack;
  let discordChannels: FakeChannel[];
  let bot: ChildProcess | undefined;
  let output = () => '';

  const startBot = async (): Promise<ChildProcess> => {
    const started = spawnBot(
      {
        OPENROUTER_API_KEY: KEY,
        OPENROUTER_BASE_URL: openrouter.url,
        DEFAULT_MODEL: 'openai/gpt-4o-mini',
        DATABASE_URL: database.url,
        INSTANCE_HEARTBEAT_MS: '200',
        QUOTA_MAX_CONCURRENT: String(MAX_CONCURRENT),
        DISCORD_TOKEN: discord.token,
        DISCORD_API_URL: discord.apiUrl,
        DISCORD_GUILD_ID: discord.guildId,
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_APP_TOKEN: slack.appToken,
        SLACK_API_URL: slack.apiUrl,
      },
      dir,
    );
    output = started.output;
    const child = started.child;
    await waitFor(() => output().includes('Switchboard is running'), 'the bot to start', 30_000);
    await slack.waitForSocket(10_000);
    return child;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-crash-'));
    database = makeDatabase(dir);
    openrouter = await startFakeOpenRouter({ apiKey: KEY });
    // "hang" prompts stream some text and then never finish; the others finish at once.
    openrouter.setDefault((body) => {
      const prompt = body.messages.at(-1)?.content ?? '';
      const label = /\b(?:hang|done|again) \S+/.exec(prompt)?.[0] ?? prompt;
      return prompt.includes('hang ')
        ? { text: ['partial ', `answer ${label}`], chunkDelayMs: 20, hang: 'after-text' }
        : { text: ['complete ', `answer ${label}`], chunkDelayMs: 20 };
    });
    discord = await startFakeDiscord();
    // One channel per Discord answer (channels must exist before the bot connects).
    discordChannels = Array.from({ length: 10 }, (_, i) => discord.addChannel(`crash-${i}`));
    slack = await startFakeSlack();
    for (const id of SLACK_USERS) slack.addUser({ id, name: id.toLowerCase() });
  }, 30_000);

  afterAll(async () => {
    if (bot && bot.exitCode === null && bot.signalCode === null) {
      const exited = new Promise((r) => bot!.once('exit', r));
      bot.kill('SIGTERM');
      await exited;
    }
    await store?.close();
    await discord.close();
    await slack.close();
    await openrouter.close();
    await database.dispose();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('loses no ledger row, doubles none, frees the quota and marks the half-written answers', async () => {
    bot = await startBot();
    store = await createStore(database.url, { logger: silentLogger });

    // 50 answers: 10 on Discord (8 hang), 40 on Slack (31 hang: all 10 of HELD_USER's, 7 of each other user's).
    const discordAsks = discordChannels.map((channel, i) => ({ channel, prompt: i < 8 ? `hang d${i}` : `done d${i}` }));
    const slackAsks = SLACK_USERS.flatMap((user, u) =>
      Array.from({ length: 10 }, (_, i) => ({ user, prompt: user === HELD_USER || i < 7 ? `hang s${u}-${i}` : `done s${u}-${i}` })),
    );
    const [, mentions] = await Promise.all([
      Promise.all(
        discordAsks.map(({ channel, prompt }) => discord.runCommand({ user: discord.users.alice, channelId: channel.id, name: 'ask', options: { prompt } })),
      ),
      Promise.all(
        slackAsks.map(({ user, prompt }) => slack.mention({ user, channel: SLACK_CHANNEL, text: `<@${slack.botUserId}> ${prompt}` })),
      ),
    ]);
    const hangingDiscord = discordAsks.filter((a) => a.prompt.startsWith('hang')).map((a) => a.channel.id);
    const hangingSlack = slackAsks.flatMap((a, i) => (a.prompt.startsWith('hang') ? [mentions[i]!.ts!] : []));
    const finished = 50 - hangingDiscord.length - hangingSlack.length;
    expect(hangingDiscord).toHaveLength(8);
    expect(hangingSlack).toHaveLength(31);

    const discordText = (channelId: string) => discord.botMessages(channelId).map((m) => m.content).join('\n');
    const slackAnswer = (threadTs: string) => slack.botMessages(SLACK_CHANNEL, threadTs).find((m) => m.origin === 'stream');
    // Every finished answer is settled; every hanging one shows its partial text and its message is recorded.
    await waitFor(async () => (await store.ledger({})).length === finished, 'the finished answers to settle');
    await waitFor(
      () =>
        hangingDiscord.every((id) => discordText(id).includes('partial answer')) &&
        hangingSlack.every((ts) => slack.visibleText(slackAnswer(ts) ?? ({ text: '' } as never)).includes('partial answer')),
      'the hanging answers to show text',
    );
    await waitFor(async () => (await database.refsStored()) === hangingDiscord.length + hangingSlack.length, 'the answer messages to be recorded');
    const committed = await store.ledger({});
    expect(committed.every((row) => row.outcome === 'ok')).toBe(true);
    expect((await store.usage('slack', slack.teamId, HELD_USER, new Date())).reserved.requests).toBe(MAX_CONCURRENT);

    // SIGKILL: no shutdown handler runs.
    const killed = new Promise<NodeJS.Signals | null>((r) => bot!.once('exit', (_code, signal) => r(signal)));
    bot.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');
    expect(await store.ledger({})).toEqual(committed);

    // Started again on the same database, it finds the dead process's answers.
    bot = await startBot();
    const all = await waitFor(async () => {
      const rows = await store.ledger({});
      return rows.length === 50 && rows;
    }, 'one ledger row per request');

    const byId = new Map<string, LedgerEntry[]>();
    for (const row of all) byId.set(row.requestId, [...(byId.get(row.requestId) ?? []), row]);
    expect(byId.size).toBe(50);
    expect([...byId.values()].every((rows) => rows.length === 1)).toBe(true);
    // Nothing committed before the kill was lost or rewritten.
    for (const row of committed) expect(byId.get(row.requestId)).toEqual([row]);
    const interrupted = all.filter((row) => row.outcome === 'interrupted');
    expect(interrupted).toHaveLength(hangingDiscord.length + hangingSlack.length);
    for (const row of interrupted) expect(row).toMatchObject({ errorKind: 'process-died', tokensIn: 0, tokensOut: 0, costUsd: 0 });

    // The half-written answers end with the note, buttons gone; the finished ones are untouched.
    await waitFor(
      () =>
        hangingDiscord.every((id) => discord.botMessages(id).at(-1)?.content.endsWith(INTERRUPTED_NOTE)) &&
        hangingSlack.every((ts) => slack.visibleText(slackAnswer(ts)!).endsWith(INTERRUPTED_NOTE)),
      'the interrupted notes',
    );
    for (const id of hangingDiscord) {
      const message = discord.botMessages(id).at(-1)!;
      expect(message.content).toContain('partial answer');
      expect(message.content).not.toContain('▍');
      expect(message.components).toEqual([]);
    }
    for (const ts of hangingSlack) {
      expect(slackAnswer(ts)!.streaming).toBe(false);
      // The "Thinking…"/Stop message beside the stream is gone.
      expect(slack.botMessages(SLACK_CHANNEL, ts).filter((m) => m.origin !== 'stream')).toEqual([]);
    }
    for (const channel of discordChannels.slice(8)) expect(discordText(channel.id)).not.toContain(INTERRUPTED_NOTE);

    // The dead reservations no longer hold HELD_USER's quota (the TTL is 15 minutes): they can ask again.
    expect((await store.usage('slack', slack.teamId, HELD_USER, new Date())).reserved.requests).toBe(0);
    const again = await slack.mention({ user: HELD_USER, channel: SLACK_CHANNEL, text: `<@${slack.botUserId}> again s0` });
    await waitFor(() => slack.visibleText(slackAnswer(again.ts!) ?? ({ text: '' } as never)).includes('complete answer again s0'), 'the new answer');
    await waitFor(async () => (await store.ledger({})).length === 51, 'its ledger row');

    expect(discord.violations).toEqual([]);
    expect(slack.violations).toEqual([]);
    expect(output()).toContain('a process died with answers running');
  }, 60_000);
});
