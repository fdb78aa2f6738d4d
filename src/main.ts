/**
 * `npm start`: the bot process. Starts every configured chat platform
 * (Discord, Slack) on one shared core.
 */
import { createApp } from './app.ts';
import { loadConfigOrExplain, type Config } from './config.ts';
import type { Core } from './core/core.ts';
import { startLiveness } from './core/recovery.ts';
import { startStopPolling } from './core/remote-stop.ts';
import type { ChatAdapter } from './core/types.ts';
import { createLogger } from './log.ts';
import { watchBudget } from './ops/budget-alert.ts';
import { watchKeyCredit } from './ops/key-credit-alert.ts';
import { startOpsServer, type OpsServer } from './ops/health-server.ts';
import { createMetrics } from './ops/metrics.ts';
import { createShutdown, installSignalHandlers } from './ops/shutdown.ts';
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
  if (config.discord) adapters.push(createDiscordAdapter(config.discord, core.host));
  if (config.slack) adapters.push(createSlackAdapter(config.slack, core.host));
  return adapters;
}

async function main(): Promise<number> {
  const config = loadConfigOrExplain();
  if (!config) return 1;
  if (configuredPlatforms(config).length === 0) {
    process.stderr.write(`${missingPlatformMessage()}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, secrets: config.secrets });
  const app = await createApp(config, { logger });
  const adapters = createAdapters(config, app.core);
  // Heartbeats from now on; sweeps what dead processes left once the adapters are up.
  const liveness = startLiveness(app.core, adapters);
  // Stop pressed on another process reaches the answers running here.
  const stopPolling = startStopPolling(app.core);
  const metrics = createMetrics(app.core.events, { processMetrics: true, catalog: app.core.catalog });
  const budget = watchBudget(app.core, adapters);
  const keyCredit = watchKeyCredit(app.core, adapters);
  let ops: OpsServer | undefined;
  const closeRest = async () => {
    await stopPolling.stop();
    await liveness.stop();
    await budget.idle();
    budget.close();
    await keyCredit.idle();
    keyCredit.close();
    metrics.close();
    await ops?.close();
    await app.close();
  };
  const shutdown = createShutdown({
    core: app.core,
    adapters,
    graceMs: config.ops.shutdownGraceMs,
    logger,
    close: closeRest,
  });
  installSignalHandlers(shutdown, logger);
  try {
    if (config.ops.metricsPort !== undefined) {
      ops = await startOpsServer({
        port: config.ops.metricsPort,
        host: config.ops.metricsHost,
        health: { adapters, store: app.core.store, draining: () => app.core.draining },
        metrics,
        logger,
      });
    }
    for (const adapter of adapters) {
      await adapter.start();
      logger.info({ platform: adapter.platform }, 'platform connected');
    }
  } catch (error) {
    logger.fatal({ err: error }, 'a chat platform (or the metrics listener) could not start');
    await Promise.allSettled(adapters.map((adapter) => adapter.stop()));
    await closeRest();
    return 1;
  }
  void liveness.startSweeping();
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
