/** Every MCP server of MCP_SERVERS: started with the bot (in parallel), closed on shutdown. */
import { McpServer, type McpServerDeps } from './mcp-server.ts';
import type { McpServerConfig } from './mcp-config.ts';

export interface McpServers {
  readonly servers: readonly McpServer[];
  close(): Promise<void>;
}

/**
 * Connects to each server; a server that cannot be reached does not stop the
 * bot: it shows as failing in /tools list and keeps retrying with backoff.
 */
export async function startMcpServers(configs: readonly McpServerConfig[], deps: McpServerDeps): Promise<McpServers> {
  const servers = configs.map((config) => new McpServer(config, deps));
  for (const server of servers) deps.registry.setGroupState(server.config.name, { state: 'connecting' });
  await Promise.all(servers.map((server) => server.start()));
  return {
    servers,
    async close() {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}
