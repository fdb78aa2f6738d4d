/**
 * One driver per platform for the platform contract (contract.test.ts): the
 * same behaviours, written once, run against the real Discord adapter (fake
 * Discord), the real Bolt app (fake Slack) and the terminal chat (streams),
 * each on a real core against the fake OpenRouter.
 *
 * A driver speaks as a person would on its platform: `ask` is a message
 * addressed to the bot that starts a conversation (Discord: a mention; Slack:
 * an app_mention; terminal: a line in a new chat), `askInSameConversation`
 * continues it (Discord: a reply to the last answer; Slack: a mention in the
 * thread; terminal: the next line). Everything resolves once the platform
 * shows the complete answer (polling for conditions, never fixed sleeps).
 */
import { PassThrough, Writable } from 'node:stream';
import { Routes } from 'discord.js';
import { commands } from '../../../commands/index.ts';
import { commandsJson } from '../../../src/platforms/discord/command-json.ts';
import { startConsoleChat, type ConsoleChat } from '../../../src/platforms/console/console-chat.ts';
import type { FakeInteraction, FakeMessage as DiscordMessage } from '../../fakes/discord.ts';
import type { FakeOpenRouter } from '../../fakes/openrouter.ts';
import type { FakeMessage as SlackMessage } from '../../fakes/slack.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
import { answerText, hasFooter, startHarness as startDiscord, type Harness as DiscordHarness } from '../discord/harness.ts';
import { ALICE, CHANNEL, startHarness as startSlack, type Harness as SlackHarness } from '../slack/harness.ts';
import { waitFor } from '../../helpers/wait.ts';
export { waitFor };

export type OptionValues = Record<string, string | number | boolean>;

export interface CommandReply {
  /** The reply's text as the person sees it ('' when nothing came back). */
  text: string;
  /** Only the person who ran the command sees it. */
  private: boolean;
  /** What else the platform saw (e.g. the HTTP status Slack got), for failure messages. */
  note?: string;
}

export interface SentMessage {
  role: string;
  content: unknown;
}

export interface PlatformDriver {
  readonly name: 'discord' | 'slack' | 'terminal';
  readonly openrouter: FakeOpenRouter;
  start(): Promise<void>;
  /** A message addressed to the bot, starting a conversation; resolves when the answer is complete. */
  ask(text: string): Promise<void>;
  /** A message continuing the conversation of the last `ask`; resolves when the answer is complete. */
  askInSameConversation(text: string): Promise<void>;
  /** Runs a command where the conversation is; resolves with the reply once handled. */
  command(name: string, subcommand?: string, options?: OptionValues): Promise<CommandReply>;
  /** A command this version does not have (e.g. left registered by an older version), run by a person. */
  unknownCommand(name: string): Promise<CommandReply>;
  /** What the person sees of the last answer: its text per message, footer, end lines and cursor removed. */
  answerTexts(): string[];
  /** The footer under the last answer, if any. */
  footer(): string | undefined;
  /**
   * Resolves with what the platform showed the first time `fragment` became
   * visible (mid-answer when given to the fake model as `restWaitsFor`), or
   * with undefined if it was not shown within a few seconds.
   */
  shown(fragment: string): Promise<string | undefined>;
  /** Everything the fake platform received that would notify people beyond the asker (empty: nobody pinged). */
  pingProblems(): string[];
  /** Rule violations the fake platform recorded. */
  violations(): string[];
  /** The `messages` of the last chat request the fake OpenRouter received. */
  lastRequestMessages(): SentMessage[];
  requestCount(): number;
  /**
   * Another bot, and then the bot itself, address the bot; resolves once the
   * platform delivered both. Absent where there is no notion of bots.
   */
  fromBots?(text: string): Promise<void>;
  /** Anything the bot posted in reply to those bot messages. */
  repliesToBots?(): string[];
  /** Forget recorded requests, scripts and violations between cases. */
  reset(): void;
  close(): Promise<void>;
}

const SHOWN_TIMEOUT_MS = 5000;


/** A promise resolved by `hit(value)`, or with undefined after the deadline (so a failing case ends instead of hanging). */
function watch(): { promise: Promise<string | undefined>; hit(value: string): void; done(): boolean } {
  let settled = false;
  let resolve!: (value: string | undefined) => void;
  const promise = new Promise<string | undefined>((r) => (resolve = r));
  const timer = setTimeout(() => finish(undefined), SHOWN_TIMEOUT_MS);
  timer.unref();
  const finish = (value: string | undefined) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    resolve(value);
  };
  return { promise, hit: finish, done: () => settled };
}

function lastMessages(openrouter: FakeOpenRouter): SentMessage[] {
  const last = openrouter.chatRequests().at(-1);
  if (!last?.body) throw new Error('the fake OpenRouter received no chat request');
  return last.body.messages.map((m) => ({ role: m.role, content: m.content }));
}

const BROADCAST_WORD = /@(everyone|here|channel)\b/;
const SLACK_BROADCAST = /<!(everyone|here|channel)(\|[^>]*)?>/;

// ---- Discord ---------------------------------------------------------------

export function discordDriver(): PlatformDriver & { harness(): DiscordHarness } {
  let h: DiscordHarness;
  let general: string;
  /** The first message of the last answer, and the message it answered. */
  let answerStart: string | undefined;
  let lastAnswer: DiscordMessage | undefined;
  const botQuestions: string[] = [];

  const answerMessages = (): DiscordMessage[] =>
    answerStart === undefined ? [] : h.fake.botMessages(general).filter((m) => BigInt(m.id) >= BigInt(answerStart!));

  async function answerTo(question: DiscordMessage): Promise<void> {
    const first = await waitFor(
      () => h.fake.botMessages(general).find((m) => m.message_reference?.message_id === question.id),
      `an answer to "${question.content}"`,
    );
    answerStart = first.id;
    await waitFor(() => h.app.core.pipeline.running() === 0 && hasFooter(answerMessages().at(-1)?.content ?? ''), 'the answer to finish');
    await h.adapter.idle();
    lastAnswer = answerMessages().at(-1);
  }

  async function run(name: string, subcommand: string | undefined, options: OptionValues | undefined): Promise<CommandReply> {
    const user = h.fake.users.alice;
    const interaction: FakeInteraction = await h.fake.runCommand({ user, channelId: general, name, subcommand, options });
    await h.adapter.idle();
    const message = h.fake.interactionMessages(interaction).at(-1);
    if (!message) return { text: '', private: false };
    return { text: message.content, private: message.ephemeralFor === user.id };
  }

  return {
    name: 'discord',
    harness: () => h,
    get openrouter() {
      return h.app.openrouter;
    },
    async start() {
      h = await startDiscord();
      general = h.fake.channels.general.id;
    },
    async ask(text) {
      const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${h.fake.bot.id}> ${text}` });
      await answerTo(question);
    },
    async askInSameConversation(text) {
      if (!lastAnswer) throw new Error('no earlier answer to reply to');
      const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: text, replyTo: lastAnswer.id });
      await answerTo(question);
    },
    command: run,
    async unknownCommand(name) {
      // Discord shows what was registered: an older version's command is still offered until the list is replaced.
      await h.adapter.client.rest.put(Routes.applicationGuildCommands(h.fake.applicationId, h.fake.guildId), {
        body: [...commandsJson(commands), { type: 1, name, description: 'From an older version', options: [] }],
      });
      return run(name, undefined, undefined);
    },
    answerTexts: () => answerMessages().map((m) => answerText(m.content)),
    footer() {
      const content = answerMessages().at(-1)?.content;
      return content && hasFooter(content) ? content.slice(content.lastIndexOf('\n\n') + 2).trim() : undefined;
    },
    shown(fragment) {
      const seen = watch();
      const off = h.fake.onRequest((request) => {
        const content = (request.body as { content?: unknown } | undefined)?.content;
        if (request.status === 200 && request.method !== 'GET' && typeof content === 'string' && content.includes(fragment)) {
          off();
          seen.hit(content);
        }
      });
      void seen.promise.then(off);
      return seen.promise;
    },
    pingProblems() {
      const problems: string[] = [];
      for (const r of h.fake.requests) {
        if (r.method === 'GET' || !/messages|webhooks|callback/.test(r.path) || r.status !== 200) continue;
        const body = r.body as { content?: unknown; allowed_mentions?: { parse?: unknown[] }; data?: { content?: unknown; allowed_mentions?: { parse?: unknown[] } } } | undefined;
        const payload = body?.data ?? body;
        if (typeof payload?.content !== 'string') continue;
        const parse = payload.allowed_mentions?.parse;
        if (!Array.isArray(parse) || parse.length > 0) problems.push(`${r.method} ${r.path}: allowed_mentions ${JSON.stringify(payload.allowed_mentions)}`);
      }
      for (const m of h.fake.botMessages(general, { includeEphemeral: true })) {
        if (m.mention_everyone) problems.push(`message ${m.id} pinged @everyone: ${m.content}`);
      }
      return problems.concat(h.fake.violations.filter((v) => /ping|allowed_mentions/.test(v)));
    },
    violations: () => [...h.fake.violations],
    lastRequestMessages: () => lastMessages(h.app.openrouter),
    requestCount: () => h.app.openrouter.chatRequests().length,
    async fromBots(text) {
      const otherBot = { ...h.fake.addUser(`otherbot${botQuestions.length}`), bot: true };
      botQuestions.push(h.fake.sendMessage({ user: otherBot, channelId: general, content: `<@${h.fake.bot.id}> ${text}` }).id);
      botQuestions.push(h.fake.sendMessage({ user: h.fake.bot, channelId: general, content: `<@${h.fake.bot.id}> ${text}` }).id);
      await h.adapter.idle();
    },
    repliesToBots: () =>
      h.fake.botMessages(general, { includeEphemeral: true }).filter((m) => botQuestions.includes(m.message_reference?.message_id ?? '')).map((m) => m.content),
    reset() {
      h.app.openrouter.reset();
      h.fake.violations.length = 0;
    },
    async close() {
      await h?.close();
    },
  };
}

// ---- Slack -----------------------------------------------------------------

export function slackDriver(): PlatformDriver & { harness(): SlackHarness } {
  let h: SlackHarness;
  /** The thread of the last conversation, and the ts of the message the last answer replied to. */
  let rootTs: string | undefined;
  let askedTs: string | undefined;
  let eventSeq = 0;
  const botThreads: string[] = [];

  const isControl = (m: SlackMessage) => m.blocks?.some((b) => b.block_id === 'switchboard_control') === true;
  const answerMessages = (): SlackMessage[] =>
    rootTs === undefined ? [] : h.fake.botMessages(CHANNEL, rootTs).filter((m) => !isControl(m) && Number(m.ts) > Number(askedTs));
  /** Lines of a message as shown (text or sections, then context lines such as the footer). */
  const linesOf = (m: SlackMessage) => h.fake.visibleText(m);
  const FOOTER = /· [\d.,k]+ in \/ [\d.,k]+ out/;

  async function mention(text: string, threadTs: string | undefined): Promise<void> {
    const delivery = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: `<@${h.fake.botUserId}> ${text}`, threadTs });
    if (delivery.status !== 200) throw new Error(`Slack delivery answered ${delivery.status}`);
    await h.adapter.idle();
    rootTs = threadTs ?? delivery.ts;
    askedTs = delivery.ts;
  }

  async function deliverCommand(name: string, text: string): Promise<CommandReply> {
    const before = h.fake.ephemerals.length;
    const publicBefore = h.fake.botMessages(CHANNEL).length;
    const started = Date.now();
    const delivery = await h.fake.slashCommand({ command: `/${name}`, text, user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    const note = `Slack got HTTP ${delivery.status} ${JSON.stringify(delivery.body)} from the app after ${Date.now() - started} ms`;
    const ephemeral = h.fake.ephemerals.slice(before).at(-1);
    if (ephemeral) return { text: ephemeral.text, private: ephemeral.via === 'chat.postEphemeral' || ephemeral.body.response_type !== 'in_channel', note };
    const posted = h.fake.botMessages(CHANNEL).slice(publicBefore).at(-1);
    return posted ? { text: h.fake.visibleText(posted), private: false, note } : { text: '', private: false, note };
  }

  async function botEvent(user: string, botId: string, text: string): Promise<void> {
    const message = h.fake.addUserMessage({ user, channel: CHANNEL, text });
    botThreads.push(message.ts);
    const id = `EvBOT${String(++eventSeq).padStart(6, '0')}`;
    const delivery = await h.fake.deliver('events_api', {
      token: 'legacy-verification-token',
      team_id: h.fake.teamId,
      api_app_id: 'A0FAKE',
      type: 'event_callback',
      event_id: id,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: h.fake.teamId, user_id: h.fake.botUserId, is_bot: true, is_enterprise_install: false }],
      event: { type: 'app_mention', user, bot_id: botId, text, ts: message.ts, channel: CHANNEL, event_ts: message.ts, team: h.fake.teamId },
    });
    if (delivery.status !== 200) throw new Error(`Slack delivery answered ${delivery.status}`);
  }

  return {
    name: 'slack',
    harness: () => h,
    get openrouter() {
      return h.app.openrouter;
    },
    async start() {
      h = await startSlack();
    },
    ask: (text) => mention(text, undefined),
    async askInSameConversation(text) {
      if (!rootTs) throw new Error('no earlier conversation');
      await mention(text, rootTs);
    },
    async command(name, subcommand, options = {}) {
      const words = [subcommand, ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, JSON.stringify(String(v))])].filter((w) => w !== undefined);
      return deliverCommand(name, words.join(' '));
    },
    // Slack sends whatever the app's manifest lists, also a command this version no longer has.
    unknownCommand: (name) => deliverCommand(name, ''),
    answerTexts: () =>
      answerMessages().map((m) =>
        (m.origin === 'stream' ? m.text : linesOf(m).split('\n').filter((line) => !FOOTER.test(line)).join('\n')).trim(),
      ),
    footer() {
      const last = answerMessages().at(-1);
      return last ? linesOf(last).split('\n').find((line) => FOOTER.test(line)) : undefined;
    },
    shown(fragment) {
      const seen = watch();
      const off = h.fake.onCall((call) => {
        if (!call.result.ok) return;
        const shownText = [call.args.markdown_text, call.args.text].find((t): t is string => typeof t === 'string' && t.includes(fragment));
        if (shownText !== undefined) {
          off();
          seen.hit(shownText);
        }
      });
      void seen.promise.then(off);
      return seen.promise;
    },
    pingProblems() {
      const problems: string[] = [];
      for (const call of h.fake.calls) {
        if (!/^chat\.|^assistant\./.test(call.method)) continue;
        const sent = JSON.stringify(call.args);
        if (SLACK_BROADCAST.test(sent)) problems.push(`${call.method} sent a broadcast mention: ${sent.slice(0, 200)}`);
      }
      const shown = [...h.fake.botMessages(CHANNEL), ...(rootTs ? h.fake.botMessages(CHANNEL, rootTs) : [])];
      for (const m of shown) {
        const text = h.fake.visibleText(m);
        if (BROADCAST_WORD.test(text) || SLACK_BROADCAST.test(text)) problems.push(`message ${m.ts} shows a live broadcast mention: ${text}`);
      }
      return problems.concat(h.fake.violations.filter((v) => /broadcast/.test(v)));
    },
    violations: () => [...h.fake.violations],
    lastRequestMessages: () => lastMessages(h.app.openrouter),
    requestCount: () => h.app.openrouter.chatRequests().length,
    async fromBots(text) {
      await botEvent('U0OTHERBOT', 'B0OTHER', `<@${h.fake.botUserId}> ${text}`);
      await botEvent(h.fake.botUserId, h.fake.botId, `<@${h.fake.botUserId}> ${text}`);
      await h.adapter.idle();
    },
    repliesToBots: () => [
      ...botThreads.flatMap((ts) => h.fake.botMessages(CHANNEL, ts).filter((m) => m.ts !== ts).map((m) => h.fake.visibleText(m))),
      ...h.fake.ephemerals.filter((e) => e.thread_ts !== undefined && botThreads.includes(e.thread_ts)).map((e) => e.text),
    ],
    reset() {
      h.app.openrouter.reset();
      h.fake.violations.length = 0;
    },
    async close() {
      await h?.close();
    },
  };
}

// ---- Terminal --------------------------------------------------------------

const PROMPT = 'you> ';

interface TerminalSession {
  input: PassThrough;
  writes: string[];
  chat: ConsoleChat;
  prompts: number;
}

export function terminalDriver(): PlatformDriver {
  let app: TestApp;
  let session: TerminalSession | undefined;
  /** Where the output of the last line starts. */
  let lastLineAt = 0;
  const listeners: Array<(chunk: string) => void> = [];

  function open(): TerminalSession {
    const writes: string[] = [];
    const s: TerminalSession = { input: new PassThrough(), writes, chat: undefined as unknown as ConsoleChat, prompts: 0 };
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        const text = chunk.toString();
        writes.push(text);
        if (text === PROMPT) s.prompts++;
        for (const listener of [...listeners]) listener(text);
        callback();
      },
    });
    s.chat = startConsoleChat({ host: app.core.host, input: s.input, output, user: { id: 'ada', name: 'Ada' }, prompt: PROMPT });
    return s;
  }

  async function end(): Promise<void> {
    if (!session) return;
    session.input.end();
    await session.chat.done;
    session = undefined;
  }

  /** Types a line and waits until the chat is ready for the next one; returns what it printed. */
  async function line(text: string): Promise<string> {
    session ??= open();
    const s = session;
    await waitFor(() => s.prompts >= 1, 'the first prompt');
    const prompts = s.prompts;
    lastLineAt = s.writes.length;
    s.input.write(`${text}\n`);
    await waitFor(() => s.prompts > prompts, `the terminal to handle "${text}"`);
    return printed();
  }

  /** What the last line printed, prompt removed. */
  const printed = () => (session ? session.writes.slice(lastLineAt).join('').replace(new RegExp(`${PROMPT}$`), '') : '');
  const FOOTER = /\n?— ([^\n]*)\n$/;

  return {
    name: 'terminal',
    get openrouter() {
      return app.openrouter;
    },
    async start() {
      app = await startTestApp();
    },
    // A new terminal chat is a new conversation (the terminal keeps its history per chat).
    async ask(text) {
      await end();
      await line(text);
    },
    async askInSameConversation(text) {
      await line(text);
    },
    async command(name, subcommand, options = {}) {
      const words = [`/${name}`, subcommand, ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, JSON.stringify(String(v))])].filter((w) => w !== undefined);
      // The terminal has one reader: everything it prints is private.
      return { text: (await line(words.join(' '))).trim(), private: true };
    },
    async unknownCommand(name) {
      return { text: (await line(`/${name}`)).trim(), private: true };
    },
    answerTexts() {
      const out = printed();
      return [out.replace(FOOTER, '').trim()];
    },
    footer: () => FOOTER.exec(printed())?.[1],
    shown(fragment) {
      const seen = watch();
      const listener = (chunk: string) => {
        // What the terminal shows so far of this answer.
        const sofar = session ? session.writes.slice(lastLineAt).join('') : chunk;
        if (sofar.includes(fragment)) seen.hit(sofar);
      };
      listeners.push(listener);
      void seen.promise.then(() => listeners.splice(listeners.indexOf(listener), 1));
      return seen.promise;
    },
    // A terminal has one reader and no one else to notify: nothing it prints can ping anybody.
    pingProblems: () => [],
    // The terminal has no platform rules to break.
    violations: () => [],
    lastRequestMessages: () => lastMessages(app.openrouter),
    requestCount: () => app.openrouter.chatRequests().length,
    // No fromBots: every line typed into the terminal comes from the one person at the keyboard.
    reset() {
      app.openrouter.reset();
    },
    async close() {
      await end();
      await app?.close();
    },
  };
}

export const drivers: Array<{ name: string; create: () => PlatformDriver }> = [
  { name: 'discord', create: discordDriver },
  { name: 'slack', create: slackDriver },
  { name: 'terminal', create: terminalDriver },
];
