/**
 * The Discord adapter: a discord.js client on the Gateway, slash commands,
 * mentions, replies, threads and DMs, each described to the core through the
 * AdapterHost (the only part of the core an adapter sees).
 */
import { once } from 'node:events';
import { Client, DefaultRestOptions, Events, GatewayIntentBits, Partials, RESTEvents, Routes, Status, type RateLimitData, type RESTOptions } from 'discord.js';
import type { Config } from '../../config.ts';
import type { AdapterHost } from '../../core/host.ts';
import type { ChatAdapter, Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { truncate } from '../../util/text.ts';
import { withDeadline } from '../../util/time.ts';
import { CommandJsonError } from './command-json.ts';
import { LiveAnswers, PLATFORM, type DiscordContext } from './context.ts';
import { handleInteraction } from './interactions.ts';
import { CHANNEL_RATE_LIMIT, MAX_MESSAGE_LENGTH, NO_MENTIONS, budgetKeyFor } from './limits.ts';
import { markInterrupted } from './mark-interrupted.ts';
import { handleMessage } from './messages.ts';
import { explainRegistrationError, registerCommands, type RegisterResult, type RegisterTarget } from './register-commands.ts';

export type DiscordAdapterConfig = NonNullable<Config['discord']>;

export interface DiscordAdapterOptions {
  clock?: Clock;
  logger?: Logger;
  /** How long stop() waits for answers in progress (default 10 s). */
  drainMs?: number;
}

export interface DiscordAdapter extends ChatAdapter {
  readonly client: Client;
  /** Registers the commands when their hash changed (start() does this); `force` always registers. */
  registerCommands(options?: { force?: boolean }): Promise<RegisterResult>;
  /** Resolves once every event handler started so far has finished. */
  idle(): Promise<void>;
}

/** Message create/edit routes, as discord.js names its buckets. */
const MESSAGE_WRITE = /^\/(channels\/:id\/messages(\/:id)?|webhooks\/:id\/:token(\/messages\/(:id|@original))?)$/;
/** An unknown command re-registers at most this often. */
const REREGISTER_INTERVAL_MS = 60_000;

/**
 * Message writes are paced by the core's budget: on a per-route 429 discord.js
 * throws (the renderer waits out retry-after) instead of queueing, so edits
 * never pile up in its queue. The global 50/s limit is left to discord.js.
 */
export function rejectOnRateLimit(data: RateLimitData): boolean {
  return !data.global && data.method.toUpperCase() !== 'GET' && MESSAGE_WRITE.test(data.route);
}

/** Interaction endpoints: the acknowledgement, and the answer's edits and follow-ups by the interaction's token. */
const INTERACTION_ROUTE = /^\/v\d+\/(interactions\/\d+\/[^/?]+\/callback|webhooks\/\d+\/[^/?]+)(\/|\?|$)/;

/**
 * discord.js's requests, with the interaction endpoints sent to `direct`
 * instead of `api` (a fleet's proxy). They carry no bot token and Discord
 * counts them outside the bot's global limit and every bucket another
 * request shares (per interaction token); only the process that received an
 * interaction ever writes to it; and Discord allows 3 s for the
 * acknowledgement. A shared proxy has nothing to coordinate there: the hop
 * only adds its queue to the 3 s and to every streamed edit.
 */
export function directInteractions(api: string, direct: string): NonNullable<Partial<RESTOptions>['makeRequest']> {
  const from = api.replace(/\/+$/, '');
  const to = direct.replace(/\/+$/, '');
  return (url, init) => {
    const route = url.startsWith(from) ? url.slice(from.length) : undefined;
    const tokenless = !new Headers(init.headers).has('authorization');
    return DefaultRestOptions.makeRequest(route !== undefined && tokenless && INTERACTION_ROUTE.test(route) ? to + route : url, init);
  };
}

function createClient(config: DiscordAdapterConfig): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
    // DM channels are not cached until a message arrives in one.
    partials: [Partials.Channel, Partials.Message],
    allowedMentions: { parse: [] },
    rest: {
      ...(config.apiUrl ? { api: config.apiUrl } : {}),
      rejectOnRateLimit,
      ...(config.interactionsApiUrl ? { makeRequest: directInteractions(config.apiUrl ?? DefaultRestOptions.api, config.interactionsApiUrl) } : {}),
    },
    // SHARD_COUNT/SHARD_IDS: this process serves only its own shards.
    ...(config.shardCount !== undefined ? { shards: config.shardIds, shardCount: config.shardCount } : {}),
  });
}

/** Event handlers in flight, so stop() can let them finish. */
class Handlers {
  readonly #running = new Set<Promise<void>>();
  stopping = false;

  constructor(private readonly logger: Logger) {}

  track(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => {
        this.logger.error({ err: error }, 'discord event handler failed');
      })
      .finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
  }

  get size(): number {
    return this.#running.size;
  }

  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }
}

function listen(ctx: DiscordContext, handlers: Handlers): void {
  const { client, logger } = ctx;
  client.rest.on(RESTEvents.RateLimited, (info) => {
    ctx.host.rateLimited({ platform: PLATFORM, route: info.route, retryAfterMs: info.retryAfter });
  });
  client.on(Events.InteractionCreate, (interaction) => {
    if (!handlers.stopping) handlers.track(handleInteraction(ctx, interaction));
  });
  client.on(Events.MessageCreate, (message) => {
    if (!handlers.stopping) handlers.track(handleMessage(ctx, message));
  });
  // Deleting an answer while it streams stops it at once (the next edit would notice too, later).
  client.on(Events.MessageDelete, (message) => {
    const live = ctx.live.get(message.id);
    if (!live) return;
    const stopped = ctx.host.stopAnswer(live.place, live.requestId, 'deleting the answer');
    if (stopped > 0) logger.info({ requestId: live.requestId, message: message.id }, 'answer message deleted; stopped the answer');
  });
  client.on(Events.Error, (error) => logger.error({ err: error }, 'discord client error'));
  client.on(Events.Warn, (message) => logger.warn(message));
  client.on(Events.ShardDisconnect, (event, shard) => logger.warn({ shard, code: event.code }, 'gateway disconnected'));
  client.on(Events.ShardReconnecting, (shard) => logger.info({ shard }, 'gateway reconnecting'));
  client.on(Events.ShardResume, (shard, replayed) => logger.info({ shard, replayed }, 'gateway resumed'));
}

/** Forced re-registration for a command this version does not know, at most once a minute. */
function reregistering(clock: Clock, logger: Logger, register: (o: { force: boolean }) => Promise<RegisterResult>, target: () => RegisterTarget) {
  let last = -Infinity;
  return async (reason: string): Promise<void> => {
    if (clock.now() - last < REREGISTER_INTERVAL_MS) return;
    last = clock.now();
    logger.warn({ reason }, 'registering the slash commands again');
    try {
      const result = await register({ force: true });
      logger.info({ commands: result.count }, 'registered slash commands again');
    } catch (error) {
      logger.error({ err: error }, explainRegistrationError(error, target()));
    }
  };
}

export function createDiscordAdapter(config: DiscordAdapterConfig, host: AdapterHost, options: DiscordAdapterOptions = {}): DiscordAdapter {
  const logger = (options.logger ?? host.logger).child({ platform: PLATFORM });
  const clock = options.clock ?? host.clock;
  const client = createClient(config);
  const handlers = new Handlers(logger);
  const applicationId = () => client.application?.id ?? client.user?.id ?? '';
  const register = async (registerOptions: { force?: boolean } = {}) =>
    registerCommands(client.rest, host, host.commands, { applicationId: applicationId(), guildId: config.guildId }, registerOptions);
  const ctx: DiscordContext = {
    client,
    rest: client.rest,
    host,
    logger,
    clock,
    live: new LiveAnswers(),
    botId: () => client.user?.id ?? '',
    applicationId,
    reregister: reregistering(clock, logger, register, () => ({ applicationId: applicationId(), guildId: config.guildId })),
    background: (work) => handlers.track(work),
  };
  listen(ctx, handlers);

  return {
    platform: PLATFORM,
    client,
    registerCommands: register,
    idle: () => handlers.idle(),
    start: () => start(ctx, config, register),
    async stop() {
      handlers.stopping = true;
      await withDeadline(handlers.idle(), options.drainMs ?? 10_000, undefined);
      if (handlers.size > 0) logger.warn({ running: handlers.size }, 'stopping with answers still running');
      await client.destroy();
    },
    connected: () => client.isReady() && client.ws.status === Status.Ready,
    markInterrupted: (ref, ending) => markInterrupted({ rest: client.rest, budget: host.budget, logger }, ref, ending),
    async postToChannel(channelId, text) {
      await host.budget.run(budgetKeyFor(channelId), CHANNEL_RATE_LIMIT, async () => {
        await client.rest.post(Routes.channelMessages(channelId), {
          body: { content: truncate(text, MAX_MESSAGE_LENGTH), allowed_mentions: NO_MENTIONS },
        });
      });
    },
  };
}

async function start(ctx: DiscordContext, config: DiscordAdapterConfig, register: () => Promise<RegisterResult>): Promise<void> {
  const { client, logger } = ctx;
  const ready = once(client, Events.ClientReady);
  try {
    await client.login(config.token);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Discord login failed: ${reason}. Check DISCORD_TOKEN (developer portal -> your application -> Bot).`, { cause: error });
  }
  await ready;
  logger.info({ user: client.user?.tag, guilds: client.guilds.cache.size }, 'connected to Discord');
  try {
    const result = await register();
    if (result.registered) logger.info({ commands: result.count, guild: config.guildId ?? 'global' }, 'registered slash commands');
    else logger.debug('slash commands unchanged; not registering');
  } catch (error) {
    if (error instanceof CommandJsonError) throw error;
    // The bot still answers mentions and already registered commands.
    logger.error({ err: error }, explainRegistrationError(error, { applicationId: ctx.applicationId(), guildId: config.guildId }));
  }
}
