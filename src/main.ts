/**
 * `npm start`: the bot process. Starts every configured chat platform
 * (Discord, Slack) on one shared core.
 */
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import type { Core } from './core/core.ts';
import type { ChatAdapter } from './core/types.ts';
import { createLogger } from './log.ts';
import { createDiscordAdapter } from './platforms/discord/adapter.ts';
import { createSlackAdapter } from './platforms/slack/adapter.ts';

/** Platforms this build can serve, by the variable that turns each on. */
function missingPlatformMessage(): string {
  return [
    'Switchboard has no chat platform configured, so there is nothing to serve.',
    'Set at least one of:',
    '  DISCORD_TOKEN    the bot token of your Discord application',
    '  SLACK_BOT_TOKEN  the xoxb- token of your Slack app (with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)',
    'To try Switchboard with only OPENROUTER_API_KEY, run: npm run chat',
  ].join('\n');
}

function configuredPlatforms(config: Config): string[] {
  return [config.discord ? 'discord' : undefined, config.slack ? 'slack' : undefined].filter((p): p is string => p !== undefined);
}

/** Builds the adapters for every configured platform; they share one core. */
function createAdapters(config: Config, core: Core): ChatAdapter[] {
  const adapters: ChatAdapter[] = [];
  if (config.discord) adapters.push(createDiscordAdapter(config.discord, core));
  if (config.slack) adapters.push(createSlackAdapter(config.slack, core));
  return adapters;
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (configuredPlatforms(config).length === 0) {
    process.stderr.write(`${missingPlatformMessage()}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, secrets: config.secrets });
  const app = await createApp(config, { logger });
  const adapters = createAdapters(config, app.core);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app.core.pipeline.stop({}, 'a restart');
    await app.core.pipeline.drain();
    await Promise.allSettled(adapters.map((adapter) => adapter.stop()));
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  try {
    for (const adapter of adapters) {
      await adapter.start();
      logger.info({ platform: adapter.platform }, 'platform connected');
    }
  } catch (error) {
    logger.fatal({ err: error }, 'a chat platform could not start');
    await Promise.allSettled(adapters.map((adapter) => adapter.stop()));
    await app.close();
    return 1;
  }
  logger.info({ platforms: adapters.map((a) => a.platform) }, 'Switchboard is running');
  return new Promise<number>(() => undefined);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`Switchboard stopped: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
