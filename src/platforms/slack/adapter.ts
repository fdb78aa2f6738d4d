/**
 * The Slack adapter on Bolt: slash commands, mentions answered in threads, DMs,
 * the Stop button. Socket Mode when an app token is configured, otherwise the
 * HTTP receiver with signing-secret verification. Listeners only ack and hand
 * the work on; everything after the ack is tracked so stop() and tests can
 * wait for it.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, type Logger as BoltLogger, type RespondFn, type webApi } from '@slack/bolt';
import type { Config } from '../../config.ts';
import { createHttpFetch } from '../../http-fetch.ts';
import { runCommand, type CommandDefinition, type Invocation } from '../../core/commands.ts';
import type { HistoryMessage } from '../../core/conversation.ts';
import type { Core } from '../../core/core.ts';
import { genericErrorMessage, newErrorId, UserFacingError } from '../../core/errors.ts';
import { parseCommandLine } from '../../core/parse-command-line.ts';
import { systemClock, type ChatAdapter, type Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { SlackDirectory } from './directory.ts';
import { markInterrupted } from './mark-interrupted.ts';
import { markdownToMrkdwn, mentionedUserIds, slackTextToPlain } from './mrkdwn.ts';
import { ACTION_PREFIX, CONTROL_BLOCK_ID, createSlackSurface, slackErrorCode, splitMrkdwn } from './surface.ts';

export type SlackConfig = NonNullable<Config['slack']>;

export interface SlackAdapterOptions {
  clock?: Clock;
  logger?: Logger;
  /** HTTP mode: overrides config.port (0 picks a free port). */
  port?: number;
  /** HTTP mode: interface to listen on (default all). */
  host?: string;
  /** HTTP mode: answer Slack only after the listeners ran (they only ack and hand work on). Tests use it. */
  processBeforeResponse?: boolean;
  /** The WebClient's retry policy for failed requests (not 429s, which the renderer handles). */
  retryConfig?: webApi.RetryOptions;
}

export interface SlackAdapter extends ChatAdapter {
  /** HTTP mode: where the receiver listens, once started. */
  address(): { host: string; port: number } | undefined;
  /** Resolves when every answer and command started so far has finished. */
  idle(): Promise<void>;
}

const PLATFORM = 'slack';
/** Slack re-delivers for a few minutes at most; an hour is ample. */
const EVENT_CLAIM_TTL_MS = 60 * 60 * 1000;
/** Earlier thread messages read for context. */
const MAX_HISTORY_MESSAGES = 400;
/** Stop waiting for answers on shutdown after this long. */
const STOP_GRACE_MS = 10_000;
/** After Slack refuses chat.startStream, try it again after this long. */
const STREAM_RETRY_MS = 10 * 60 * 1000;

interface MessageEventLike {
  type: string;
  subtype?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  channel: string;
  channel_type?: string;
  team?: string;
}

export function createSlackAdapter(config: SlackConfig, core: Core, options: SlackAdapterOptions = {}): SlackAdapter {
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? core.logger).child({ platform: PLATFORM });
  const socketMode = Boolean(config.appToken);
  if (!socketMode && !config.signingSecret) {
    throw new Error('Slack needs SLACK_SIGNING_SECRET in HTTP mode (or SLACK_APP_TOKEN for Socket Mode).');
  }
  const boltLogger = toBoltLogger(logger);
  const clientOptions: webApi.WebClientOptions = {
    ...(config.apiUrl ? { slackApiUrl: `${config.apiUrl.replace(/\/+$/, '')}/` } : {}),
    retryConfig: options.retryConfig ?? { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
    // 429s reach the renderer (which waits and keeps the budget) instead of pausing the client's whole queue.
    rejectRateLimitedCalls: true,
    logger: boltLogger,
    // node:http instead of the global fetch, as for OpenRouter: the Web API client was the other big fetch user.
    fetch: createHttpFetch(),
  };

  const receiver = socketMode
    ? new SocketModeReceiver({ appToken: config.appToken!, logger: boltLogger, installerOptions: { clientOptions } })
    : new HTTPReceiver({
        signingSecret: config.signingSecret!,
        logger: boltLogger,
        processBeforeResponse: options.processBeforeResponse ?? false,
        endpoints: '/slack/events',
      });
  const app = new App({
    token: config.botToken,
    receiver,
    logger: boltLogger,
    clientOptions,
    deferInitialization: true,
  });
  const client = app.client;
  const directory = new SlackDirectory(client, clock, logger);

  let bot: { userId: string; botId: string; teamId: string } | undefined;
  let server: Server | undefined;
  let socketConnected = false;
  let streamsUnsupportedUntil = 0;
  let statusUnsupportedUntil = 0;
  const inflight = new Set<Promise<void>>();

  /** Runs work after the ack; errors end here, logged once. */
  const track = (name: string, work: () => Promise<void>) => {
    const task: Promise<void> = work()
      .catch((error: unknown) => {
        logger.error({ err: error, task: name }, 'slack handler failed');
      })
      .finally(() => inflight.delete(task));
    inflight.add(task);
  };

  const idle = async () => {
    while (inflight.size > 0) await Promise.all([...inflight]);
  };

  const isOwnMessage = (message: { user?: string; bot_id?: string }) =>
    (bot !== undefined && message.user === bot.userId) || (bot !== undefined && message.bot_id === bot.botId);

  const stripBotMention = (text: string) =>
    bot ? text.replace(new RegExp(`<@${bot.userId}(\\|[^>]*)?>`, 'g'), ' ').replace(/[ \t]+/g, ' ').trim() : text;

  /** Slack text -> plain text for the model, with mentioned users' names looked up. */
  const toPlain = async (text: string) => {
    const stripped = stripBotMention(text);
    await Promise.all(mentionedUserIds(stripped).map((id) => directory.nameOf(id)));
    return slackTextToPlain(stripped, (id) => directory.cachedName(id));
  };

  const surfaceFor = (input: { channel: string; teamId: string; threadTs?: string; userId: string; requestId: string; header?: string }) =>
    createSlackSurface({
      client,
      logger,
      clock,
      channel: input.channel,
      teamId: input.teamId,
      threadTs: input.threadTs,
      recipientUserId: input.userId,
      requestId: input.requestId,
      header: input.header,
      nativeStream: clock.now() >= streamsUnsupportedUntil,
      onStreamUnsupported(error) {
        logger.info({ error }, 'Slack refused chat.startStream; answering with chat.update for a while');
        streamsUnsupportedUntil = clock.now() + STREAM_RETRY_MS;
      },
    });

  // --- Slash commands ------------------------------------------------------------

  const replyVia = (respond: RespondFn) => async (text: string, replyOptions?: { ephemeral?: boolean }) => {
    const pieces = splitMrkdwn(markdownToMrkdwn(text), 3_000);
    for (const piece of pieces) {
      await respond({ response_type: replyOptions?.ephemeral ? 'ephemeral' : 'in_channel', text: piece, replace_original: false });
    }
  };

  interface CommandBody {
    text: string;
    user_id: string;
    user_name: string;
    team_id: string;
    channel_id: string;
  }

  const handleCommand = async (definition: CommandDefinition, body: CommandBody, respond: RespondFn) => {
    const reply = replyVia(respond);
    const parsed = parseCommandLine(`/${definition.name} ${body.text ?? ''}`, core.commands);
    if (!parsed.ok) {
      await reply(parsed.error, { ephemeral: true });
      return;
    }
    const name = await directory.nameOf(body.user_id).catch(() => body.user_name);
    const requestId = randomUUID();
    const prompt = typeof parsed.options.prompt === 'string' ? parsed.options.prompt : undefined;
    const invocation: Invocation = {
      platform: PLATFORM,
      workspaceId: body.team_id,
      channelId: body.channel_id,
      user: { id: body.user_id, name },
      isPlatformAdmin: () => directory.isAdmin(body.user_id),
      conversationKey: `slack:${body.team_id}:${body.channel_id}`,
      reply,
      async answerSurface() {
        return surfaceFor({
          channel: body.channel_id,
          teamId: body.team_id,
          userId: body.user_id,
          requestId,
          header: prompt ? `${name} asked: ${truncate(prompt, 200)}` : undefined,
        });
      },
      async lookupUser(ref) {
        const user = await directory.user(ref);
        return user ? { id: user.id, name: user.name } : undefined;
      },
      requestId,
    };
    await runCommand(core, parsed.command, parsed.subName, parsed.options, invocation);
  };

  for (const definition of core.commands) {
    app.command(`/${definition.name}`, async ({ ack, command, respond }) => {
      await ack();
      track(`/${definition.name}`, () => handleCommand(definition, command, respond));
    });
  }

  // --- Mentions and DMs ------------------------------------------------------------

  const loadHistory = async (channel: string, threadTs: string, beforeTs: string): Promise<HistoryMessage[]> => {
    const raw: Array<{ ts?: string; user?: string; bot_id?: string; text?: string; subtype?: string; blocks?: Array<{ block_id?: string }> }> = [];
    let cursor: string | undefined;
    do {
      const page = await client.conversations.replies({ channel, ts: threadTs, limit: 200, ...(cursor ? { cursor } : {}) });
      raw.push(...(page.messages ?? []));
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (cursor && raw.length < MAX_HISTORY_MESSAGES);

    const earlier = raw.filter(
      (m) =>
        m.ts !== undefined &&
        Number(m.ts) < Number(beforeTs) &&
        (m.subtype === undefined || m.subtype === 'thread_broadcast' || m.subtype === 'bot_message') &&
        !m.blocks?.some((b) => b.block_id === CONTROL_BLOCK_ID),
    );
    const authors = [...new Set(earlier.filter((m) => m.user && !isOwnMessage(m)).map((m) => m.user!))];
    await Promise.all(authors.map((id) => directory.nameOf(id)));
    const history: HistoryMessage[] = [];
    for (const m of earlier) {
      const at = new Date(Number(m.ts) * 1000);
      const text = await toPlain(m.text ?? '');
      if (isOwnMessage(m)) history.push({ role: 'assistant', text, at });
      else history.push({ role: 'user', text, at, authorId: m.user ?? m.bot_id, authorName: m.user ? directory.cachedName(m.user) ?? m.user : 'another app' });
    }
    return history;
  };

  /** "is thinking…" under the thread; where Slack refuses it, the thinking message alone shows progress. */
  const setStatus = async (channel: string, threadTs: string, status: string) => {
    if (clock.now() < statusUnsupportedUntil) return false;
    try {
      await client.assistant.threads.setStatus({ channel_id: channel, thread_ts: threadTs, status });
      return true;
    } catch (error) {
      const code = slackErrorCode(error);
      logger.debug({ err: error, code }, 'assistant.threads.setStatus not available here');
      if (code === 'unknown_method' || code === 'missing_scope' || code === 'not_allowed_token_type') {
        statusUnsupportedUntil = clock.now() + STREAM_RETRY_MS;
      }
      return false;
    }
  };

  /**
   * What the model is told: the prompt, the thread so far and who asks. The
   * asker's name only reaches the model in a thread where several people
   * talk, so outside threads a name not yet known does not hold up the answer
   * (the lookup goes on and fills the cache).
   */
  const readMessage = (event: MessageEventLike) => {
    const user = event.user!;
    const name = directory.nameOf(user);
    return Promise.all([
      toPlain(event.text ?? ''),
      event.thread_ts ? loadHistory(event.channel, event.thread_ts, event.ts) : Promise.resolve([]),
      event.thread_ts ? name : (directory.cachedName(user) ?? user),
    ]);
  };

  const answerMessage = async (event: MessageEventLike, teamId: string, reading: ReturnType<typeof readMessage>) => {
    const user = event.user!;
    const channel = event.channel;
    const threadTs = event.thread_ts ?? event.ts;
    const place = { platform: PLATFORM, workspaceId: teamId, channelId: channel };
    const requestId = randomUUID();
    const ephemeral = async (text: string) => {
      await client.chat.postEphemeral({ channel, user, thread_ts: threadTs, text: markdownToMrkdwn(text) }).catch((error: unknown) => {
        logger.warn({ err: error }, 'could not deliver an ephemeral reply');
      });
    };
    // The status call runs alongside the answer: the upstream request does not wait for Slack.
    let status: Promise<boolean> = Promise.resolve(false);
    try {
      const [prompt, history, name] = await reading;
      const asker = { id: user, name };
      const isAdmin = () => core.isAdmin({ platform: PLATFORM, user: asker, isPlatformAdmin: () => directory.isAdmin(user) });
      status = setStatus(channel, threadTs, 'is thinking…');
      await core.pipeline.ask({
        requestId,
        place,
        user: asker,
        prompt,
        conversationKey: `slack:${teamId}:${channel}:${threadTs}`,
        history,
        surface: surfaceFor({ channel, teamId, threadTs, userId: user, requestId }),
        isAdmin,
      });
    } catch (error) {
      if (error instanceof UserFacingError) {
        logger.info({ code: error.code, user, channel }, 'request refused: %s', error.message);
        await ephemeral(error.message);
      } else {
        const errorId = newErrorId();
        logger.error({ err: error, errorId, user, channel }, 'answer failed');
        await ephemeral(genericErrorMessage(errorId));
      }
    } finally {
      if (await status) await setStatus(channel, threadTs, '');
    }
  };

  /**
   * Slack re-delivers slow events; the first process to claim the event id
   * answers. The message is claimed too: one message can arrive as two events
   * (a mention inside a DM is both app_mention and message.im).
   */
  const claim = async (eventId: string | undefined, teamId: string, event: MessageEventLike) => {
    const now = new Date(clock.now());
    const keys = [...(eventId ? [`slack:event:${eventId}`] : []), `slack:message:${teamId}:${event.channel}:${event.ts}`];
    if (await core.store.claimEvents(keys, now, EVENT_CLAIM_TTL_MS)) return true;
    logger.debug({ eventId, keys }, 'duplicate event ignored');
    return false;
  };

  const onMessageEvent = (event: MessageEventLike, body: { event_id?: string; team_id?: string }) => {
    track(event.type, async () => {
      if (!event.user || event.subtype !== undefined || event.bot_id || isOwnMessage(event)) return;
      const teamId = body.team_id ?? event.team ?? bot?.teamId ?? 'unknown';
      // Bolt has acked; the claim and the reading wait their turn in a burst too.
      await core.turns.turn();
      // Reading the message (names, thread history) overlaps the claim; a duplicate's reading is dropped.
      const reading = readMessage(event);
      if (!(await claim(body.event_id, teamId, event))) {
        reading.catch(() => undefined);
        return;
      }
      await answerMessage(event, teamId, reading);
    });
  };

  app.event('app_mention', async ({ event, body }) => {
    onMessageEvent(event, body);
  });

  app.message(async ({ message, body }) => {
    const event = message as unknown as MessageEventLike;
    // Channel messages reach us only as app_mention; here only DMs count.
    if (event.channel_type !== 'im') return;
    onMessageEvent(event, body);
  });

  // --- The Stop button -------------------------------------------------------------

  app.action(`${ACTION_PREFIX}stop`, async ({ ack, body, action, respond }) => {
    await ack();
    track('stop button', async () => {
      const requestId = 'value' in action && typeof action.value === 'string' ? action.value : '';
      const userId = body.user.id;
      const teamId = body.team?.id ?? bot?.teamId ?? 'unknown';
      const say = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text: markdownToMrkdwn(text) });
      const owner = core.pipeline.ownerOf(requestId);
      if (!owner) {
        await say('That answer has already finished.');
        return;
      }
      const name = await directory.nameOf(userId);
      if (owner !== userId) {
        const admin = await core.isAdmin({ platform: PLATFORM, user: { id: userId }, isPlatformAdmin: () => directory.isAdmin(userId) });
        if (!admin) {
          logger.info({ user: userId, requestId }, 'stop refused: not the asker or an admin');
          await say('Only the person who asked, or an admin, can stop this answer.');
          return;
        }
      }
      core.pipeline.stop({ platform: PLATFORM, workspaceId: teamId, requestId }, name);
    });
  });

  app.error(async (error) => {
    logger.error({ err: error }, 'bolt error');
  });

  if (socketMode) {
    const socketClient = (receiver as SocketModeReceiver).client;
    socketClient.on('connected', () => {
      socketConnected = true;
    });
    socketClient.on('disconnected', () => {
      socketConnected = false;
    });
  }

  return {
    platform: PLATFORM,
    async start() {
      await app.init();
      const auth = await client.auth.test();
      bot = { userId: auth.user_id ?? '', botId: auth.bot_id ?? '', teamId: auth.team_id ?? '' };
      directory.setOwnTeam(bot.teamId);
      if (socketMode) {
        await app.start();
        logger.info({ mode: 'socket' }, 'Slack connected (Socket Mode)');
      } else {
        const port = options.port ?? config.port;
        server = await app.start({ port, ...(options.host ? { host: options.host } : {}) });
        logger.info({ mode: 'http', port: (server.address() as AddressInfo | null)?.port }, 'Slack HTTP receiver listening');
      }
    },
    async stop() {
      if (socketMode) {
        const socketClient = (receiver as SocketModeReceiver).client;
        const disconnected = socketConnected
          ? new Promise<void>((resolve) => {
              socketClient.once('disconnected', () => resolve());
            })
          : Promise.resolve();
        await app.stop();
        await withTimeout(disconnected, 5_000);
      } else if (server) {
        await app.stop();
        server = undefined;
      }
      await withTimeout(idle(), STOP_GRACE_MS);
    },
    connected() {
      return socketMode ? socketConnected : server?.listening === true;
    },
    markInterrupted: (ref, note) => markInterrupted({ client, logger }, ref, note),
    async postToChannel(channelId, text) {
      // link_names off and parse none: nothing in the text can ping anyone.
      await client.chat.postMessage({ channel: channelId, text: markdownToMrkdwn(text), link_names: false, parse: 'none', unfurl_links: false, unfurl_media: false });
    },
    address() {
      const address = server?.address();
      return address && typeof address === 'object' ? { host: address.address, port: address.port } : undefined;
    },
    idle,
  };
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/** Bolt and the Slack clients log through pino; their info chatter goes to debug. */
function toBoltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'bolt' });
  let level: LogLevel = LogLevel.INFO;
  const line = (parts: unknown[]) => parts.map((p) => (typeof p === 'string' ? p : p instanceof Error ? p.message : JSON.stringify(p))).join(' ');
  return {
    debug: (...parts: unknown[]) => child.debug(line(parts)),
    info: (...parts: unknown[]) => child.debug(line(parts)),
    warn: (...parts: unknown[]) => child.warn(line(parts)),
    error: (...parts: unknown[]) => child.error(line(parts)),
    setLevel(next: LogLevel) {
      level = next;
    },
    getLevel: () => level,
    setName() {},
  };
}
