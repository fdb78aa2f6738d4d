/**
 * The Slack adapter on Bolt. Socket Mode when an app token is configured,
 * otherwise the HTTP receiver with signing-secret verification. This file
 * wires the receiver, the app, the Web API client and the lifecycle; the
 * listeners (listeners/) only ack, translate and hand events to the core's
 * AdapterHost. Work after the ack is tracked so stop() and tests can wait for it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, SocketModeReceiver, type Logger as BoltLogger, type webApi } from '@slack/bolt';
import { DEFAULT_SUGGESTED_PROMPTS, type Config } from '../../config.ts';
import type { AdapterHost } from '../../core/host.ts';
import type { ChatAdapter, Clock } from '../../core/types.ts';
import { createHttpFetch } from '../../http-fetch.ts';
import type { Logger } from '../../log.ts';
import { withDeadline } from '../../util/time.ts';
import { AssistantStatus } from './assistant-status.ts';
import { SlackAssistant } from './assistant.ts';
import { toBoltLogger } from './bolt-logger.ts';
import { PLATFORM, SlackSurfaces, Tracker, type BotIdentity, type SlackDeps } from './deps.ts';
import { SlackDirectory } from './directory.ts';
import * as actions from './listeners/actions.ts';
import * as assistantEvents from './listeners/assistant.ts';
import * as commands from './listeners/commands.ts';
import * as events from './listeners/events.ts';
import * as home from './listeners/home.ts';
import { markInterrupted } from './mark-interrupted.ts';
import { markdownToMrkdwn } from './mrkdwn.ts';

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

/** Stop waiting for answers on shutdown after this long. */
const STOP_GRACE_MS = 10_000;
/** Stop waiting for the socket to close after this long. */
const DISCONNECT_GRACE_MS = 5_000;

export function createSlackAdapter(config: SlackConfig, host: AdapterHost, options: SlackAdapterOptions = {}): SlackAdapter {
  const clock = options.clock ?? host.clock;
  const logger = (options.logger ?? host.logger).child({ platform: PLATFORM });
  const boltLogger = toBoltLogger(logger);
  const clientOptions = webClientOptions(config, options, boltLogger);
  const receiver = createReceiver(config, options, boltLogger, clientOptions);
  const app = new App({ token: config.botToken, receiver, logger: boltLogger, clientOptions, deferInitialization: true });
  const client = app.client;
  const tracker = new Tracker(logger);
  let bot: BotIdentity | undefined;
  const deps: SlackDeps = {
    host,
    client,
    logger,
    clock,
    directory: new SlackDirectory(client, clock, logger),
    bot: () => bot,
    track: (name, work) => tracker.track(name, work),
    surfaces: new SlackSurfaces({ client, logger, clock }),
    status: new AssistantStatus({ client, logger, clock }),
    commandPrefix: config.commandPrefix ?? '',
    assistant: () => assistant,
  };
  const assistant = new SlackAssistant(deps, config.suggestedPrompts ?? DEFAULT_SUGGESTED_PROMPTS);
  for (const listeners of [commands, events, assistantEvents, home, actions]) listeners.register(app, deps);
  app.error(async (error) => {
    logger.error({ err: error }, 'bolt error');
  });

  const connection = receiver instanceof SocketModeReceiver ? socketConnection(receiver) : undefined;
  let server: Server | undefined;

  return {
    platform: PLATFORM,
    async start() {
      await app.init();
      const auth = await client.auth.test();
      bot = { userId: auth.user_id ?? '', botId: auth.bot_id ?? '', teamId: auth.team_id ?? '' };
      deps.directory.setOwnTeam(bot.teamId);
      if (connection) {
        await app.start();
        logger.info({ mode: 'socket' }, 'Slack connected (Socket Mode)');
        return;
      }
      server = await app.start({ port: options.port ?? config.port, ...(options.host ? { host: options.host } : {}) });
      logger.info({ mode: 'http', port: (server.address() as AddressInfo | null)?.port }, 'Slack HTTP receiver listening');
    },
    async stop() {
      const disconnected = connection?.disconnected();
      if (connection || server) await app.stop();
      server = undefined;
      if (disconnected) await withDeadline(disconnected, DISCONNECT_GRACE_MS, undefined);
      await withDeadline(tracker.idle(), STOP_GRACE_MS, undefined);
    },
    connected: () => (connection ? connection.connected() : server?.listening === true),
    markInterrupted: (ref, ending) => markInterrupted({ client, logger }, ref, ending),
    async postToChannel(channelId, text) {
      // link_names off and parse none: nothing in the text can ping anyone.
      await client.chat.postMessage({ channel: channelId, text: markdownToMrkdwn(text), link_names: false, parse: 'none', unfurl_links: false, unfurl_media: false });
    },
    address() {
      const address = server?.address();
      return address && typeof address === 'object' ? { host: address.address, port: address.port } : undefined;
    },
    idle: () => tracker.idle(),
  };
}

/** Socket Mode when an app token is configured, otherwise HTTP with signature checks. */
function createReceiver(config: SlackConfig, options: SlackAdapterOptions, logger: BoltLogger, clientOptions: webApi.WebClientOptions): SocketModeReceiver | HTTPReceiver {
  if (config.appToken) return new SocketModeReceiver({ appToken: config.appToken, logger, installerOptions: { clientOptions } });
  if (!config.signingSecret) throw new Error('Slack needs SLACK_SIGNING_SECRET in HTTP mode (or SLACK_APP_TOKEN for Socket Mode).');
  return new HTTPReceiver({ signingSecret: config.signingSecret, logger, processBeforeResponse: options.processBeforeResponse ?? false, endpoints: '/slack/events' });
}

function webClientOptions(config: SlackConfig, options: SlackAdapterOptions, logger: BoltLogger): webApi.WebClientOptions {
  return {
    ...(config.apiUrl ? { slackApiUrl: `${config.apiUrl.replace(/\/+$/, '')}/` } : {}),
    retryConfig: options.retryConfig ?? { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
    // 429s reach the renderer (which waits and keeps the budget) instead of pausing the client's whole queue.
    rejectRateLimitedCalls: true,
    logger,
    // node:http instead of the global fetch, as for OpenRouter: the Web API client was the other big fetch user.
    fetch: createHttpFetch(),
  };
}

/** Socket Mode's connection state, and a way to wait for it to close. */
function socketConnection(receiver: SocketModeReceiver): { connected(): boolean; disconnected(): Promise<void> } {
  const socketClient = receiver.client;
  let connected = false;
  socketClient.on('connected', () => {
    connected = true;
  });
  socketClient.on('disconnected', () => {
    connected = false;
  });
  return {
    connected: () => connected,
    disconnected: () =>
      connected
        ? new Promise<void>((resolve) => {
            socketClient.once('disconnected', () => resolve());
          })
        : Promise.resolve(),
  };
}
