/**
 * The Discord adapter: a discord.js client on the Gateway, slash commands,
 * mentions, replies, threads and DMs, all handed to the shared core.
 */
import { once } from 'node:events';
import { Client, Events, GatewayIntentBits, Partials, RESTEvents, Routes, Status, type RateLimitData } from 'discord.js';
import type { Config } from '../../config.ts';
import type { Core } from '../../core/core.ts';
import type { ChatAdapter, Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { CommandJsonError } from './command-json.ts';
import { BoundedMap, LiveAnswers, PLATFORM, type DiscordContext } from './context.ts';
import { handleInteraction } from './interactions.ts';
import { markInterrupted } from './mark-interrupted.ts';
import { handleMessage } from './messages.ts';
import { explainRegistrationError, registerCommands, type RegisterResult } from './register-commands.ts';
import { budgetKeyFor, CHANNEL_RATE_LIMIT, MAX_MESSAGE_LENGTH, NO_MENTIONS } from './surface.ts';

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

/**
 * Message writes are paced by the core's budget: on a per-route 429 discord.js
 * throws (the renderer waits out retry-after) instead of queueing, so edits
 * never pile up in its queue. The global 50/s limit is left to discord.js.
 */
export function rejectOnRateLimit(data: RateLimitData): boolean {
  return !data.global && data.method.toUpperCase() !== 'GET' && MESSAGE_WRITE.test(data.route);
}

export function createDiscordAdapter(config: DiscordAdapterConfig, core: Core, options: DiscordAdapterOptions = {}): DiscordAdapter {
  const logger = (options.logger ?? core.logger).child({ platform: 'discord' });
  const clock = options.clock ?? core.clock;
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
    // DM channels are not cached until a message arrives in one.
    partials: [Partials.Channel, Partials.Message],
    allowedMentions: { parse: [] },
    rest: { ...(config.apiUrl ? { api: config.apiUrl } : {}), rejectOnRateLimit },
    // SHARD_COUNT/SHARD_IDS: this process serves only its own shards.
    ...(config.shardCount !== undefined ? { shards: config.shardIds, shardCount: config.shardCount } : {}),
  });
  client.rest.on(RESTEvents.RateLimited, (info) => {
    core.events.emit('platform-rate-limited', { platform: PLATFORM, route: info.route, retryAfterMs: info.retryAfter });
  });

  const running = new Set<Promise<void>>();
  let stopping = false;
  const track = (work: Promise<void>) => {
    const tracked = work
      .catch((error: unknown) => {
        logger.error({ err: error }, 'discord event handler failed');
      })
      .finally(() => running.delete(tracked));
    running.add(tracked);
  };

  const ctx: DiscordContext = {
    client,
    rest: client.rest,
    core,
    logger,
    clock,
    retries: new BoundedMap(500),
    asked: new BoundedMap(5000),
    live: new LiveAnswers(),
    botId: () => client.user?.id ?? '',
    applicationId: () => client.application?.id ?? client.user?.id ?? '',
  };

  client.on(Events.InteractionCreate, (interaction) => {
    if (!stopping) track(handleInteraction(ctx, interaction));
  });
  client.on(Events.MessageCreate, (message) => {
    if (!stopping) track(handleMessage(ctx, message));
  });
  // Deleting an answer while it streams stops it at once (the next edit would notice too, later).
  client.on(Events.MessageDelete, (message) => {
    const live = ctx.live.get(message.id);
    if (!live) return;
    const stopped = core.pipeline.stop({ platform: PLATFORM, workspaceId: live.workspaceId, requestId: live.requestId }, 'deleting the answer');
    if (stopped > 0) logger.info({ requestId: live.requestId, message: message.id }, 'answer message deleted; stopped the answer');
  });
  client.on(Events.Error, (error) => logger.error({ err: error }, 'discord client error'));
  client.on(Events.Warn, (message) => logger.warn(message));
  client.on(Events.ShardDisconnect, (event, shard) => logger.warn({ shard, code: event.code }, 'gateway disconnected'));
  client.on(Events.ShardReconnecting, (shard) => logger.info({ shard }, 'gateway reconnecting'));
  client.on(Events.ShardResume, (shard, replayed) => logger.info({ shard, replayed }, 'gateway resumed'));

  const register = async (registerOptions: { force?: boolean } = {}) => {
    const target = { applicationId: ctx.applicationId(), guildId: config.guildId };
    return registerCommands(client.rest, core.store, core.commands, target, registerOptions);
  };

  const idle = async () => {
    while (running.size > 0) await Promise.allSettled([...running]);
  };

  return {
    platform: 'discord',
    client,
    registerCommands: register,
    idle,
    async start() {
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
    },
    async stop() {
      stopping = true;
      const drainMs = options.drainMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      });
      await Promise.race([idle(), timeout]);
      clearTimeout(timer);
      if (running.size > 0) logger.warn({ running: running.size }, 'stopping with answers still running');
      await client.destroy();
    },
    connected() {
      return client.isReady() && client.ws.status === Status.Ready;
    },
    markInterrupted: (ref, note) => markInterrupted({ rest: client.rest, budget: core.budget, logger }, ref, note),
    async postToChannel(channelId, text) {
      await core.budget.run(budgetKeyFor(channelId), CHANNEL_RATE_LIMIT, async () => {
        await client.rest.post(Routes.channelMessages(channelId), {
          body: { content: text.slice(0, MAX_MESSAGE_LENGTH), allowed_mentions: NO_MENTIONS },
        });
      });
    },
  };
}
