/**
 * `npm start`: the bot process. Starts every configured chat platform
 * (Discord, Slack) on one shared core.
 */
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger } from './log.ts';

/** Platforms this build can serve, by the variable that turns each on. */
export function missingPlatformMessage(): string {
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
  const platforms = configuredPlatforms(config);
  if (platforms.length === 0) {
    process.stderr.write(`${missingPlatformMessage()}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, secrets: config.secrets });
  const app = await createApp(config, { logger });
  // The Discord and Slack adapters attach here (issues "Discord" and "Slack"); until
  // they exist a configured platform cannot be served, which is said plainly.
  logger.error({ platforms }, 'the configured chat platforms are not built into this version yet; use npm run chat');
  await app.close();
  return 3;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`Switchboard stopped: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
