/** MCP_SERVERS files for tests, and the fake MCP server over stdio. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function mcpServersFile(servers: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-mcp-'));
  const path = join(dir, 'mcp-servers.json');
  writeFileSync(path, JSON.stringify({ servers }));
  return path;
}

/** test/fakes/mcp-server.ts as a stdio server named `fake`. */
export const FAKE_STDIO = { name: 'fake', command: process.execPath, args: ['--import', 'tsx', 'test/fakes/mcp-server.ts'] };
