/**
 * The composition root shared by `npm start` and `npm run chat`:
 * config -> logger -> store -> catalog/llm -> tools -> core.
 */
import { commands } from '../commands/index.ts';
import type { Config } from './config.ts';
import { createCore, type Core } from './core/core.ts';
import { createSettleSpool, defaultSpoolDir, type SettleSpool } from './core/settle-spool.ts';
import { systemClock, type Clock } from './core/types.ts';
import { createModelCatalog } from './llm/catalog.ts';
import { createOpenRouterAccount } from './llm/account.ts';
import { createOpenRouterService } from './llm/openrouter.ts';
import type { Logger } from './log.ts';
import { createStore } from './store/index.ts';
import { loadMcpServers } from './tools/mcp/mcp-config.ts';
import { startMcpServers, type McpServers } from './tools/mcp/mcp-servers.ts';
import { loadPlugins, registerBuiltinTools } from './tools/plugins.ts';
import { ToolRegistry } from './tools/registry.ts';

export interface App {
  core: Core;
  /** Settles waiting for the database (see settle-spool.ts). */
  spool: SettleSpool;
  /** The MCP tool servers of MCP_SERVERS (none when unset). */
  mcp: McpServers;
  close(): Promise<void>;
}

export interface AppOptions {
  logger: Logger;
  clock?: Clock;
  instanceId?: string;
}

export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  // A bad MCP_SERVERS file stops the start before anything is opened.
  const mcpConfigs = config.mcp.serversFile ? loadMcpServers(config.mcp.serversFile) : [];
  const store = await createStore(config.databaseUrl, { logger });
  let mcp: McpServers | undefined;
  try {
    await store.migrate();
    const expired = await store.expireReservations(new Date());
    if (expired > 0) logger.info({ expired }, 'expired quota reservations left by stopped processes');

    const catalog = createModelCatalog({
      baseUrl: config.openrouter.baseUrl,
      apiKey: config.openrouter.apiKey,
      ttlMs: config.openrouter.catalogTtlMs,
      logger: logger.child({ component: 'catalog' }),
      clock: options.clock,
    });
    const registry = new ToolRegistry(config.tools.timeoutMs);
    registerBuiltinTools(registry);
    await loadPlugins(config.plugins, { registry, logger });
    mcp = await startMcpServers(mcpConfigs, {
      registry,
      clock: options.clock ?? systemClock,
      logger: logger.child({ component: 'mcp' }),
      resultMaxChars: config.mcp.resultMaxChars,
    });
    const llm = createOpenRouterService({
      apiKey: config.openrouter.apiKey,
      baseUrl: config.openrouter.baseUrl,
      appUrl: config.openrouter.appUrl,
      appTitle: config.openrouter.appTitle,
      timeoutMs: config.openrouter.timeoutMs,
      maxRetries: config.openrouter.maxRetries,
      logger: logger.child({ component: 'openrouter' }),
      catalog,
      registry,
      maxToolRounds: config.tools.maxRounds,
      clock: options.clock,
    });
    const account = createOpenRouterAccount({
      apiKey: config.openrouter.apiKey,
      baseUrl: config.openrouter.baseUrl,
      timeoutMs: config.openrouter.timeoutMs,
      maxRetries: config.openrouter.maxRetries,
    });
    const core = createCore({
      config,
      logger,
      store,
      llm,
      account,
      registry,
      commands,
      clock: options.clock,
      instanceId: options.instanceId,
    });
    // Usage the database refused past the retries waits on disk until it lands (from earlier runs too).
    const spool = createSettleSpool({ dir: defaultSpoolDir(config.spoolDir, config.databaseUrl), store, logger: logger.child({ component: 'settle-spool' }) });
    core.quota.spoolFailedSettles(spool);
    spool.start();
    return {
      core,
      spool,
      mcp,
      async close() {
        await mcp?.close();
        catalog.close();
        await spool.close();
        await store.close();
      },
    };
  } catch (error) {
    await mcp?.close();
    await store.close();
    throw error;
  }
}
