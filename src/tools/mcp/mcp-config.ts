/**
 * MCP_SERVERS: a JSON file listing the MCP tool servers to connect, each with a
 * name and either a stdio command or a Streamable HTTP url. Checked once at
 * start; a bad file stops the bot with a message naming the field.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { GROUP_NAME } from '../tool-names.ts';

const stringMap = z.record(z.string(), z.string());
const common = {
  name: z.string().regex(GROUP_NAME, 'must start with a letter and have at most 32 letters, digits, _ or - (tools appear as <name>.<tool>)'),
  /** Per-call timeout for this server's tools (the registry's default otherwise). */
  timeoutMs: z.number().int().positive().max(600_000).optional(),
};

const stdioServer = z.strictObject({
  ...common,
  command: z.string().trim().min(1, 'must name the program to run'),
  args: z.array(z.string()).default([]),
  env: stringMap.optional(),
  cwd: z.string().optional(),
});

const httpServer = z.strictObject({
  ...common,
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  headers: stringMap.default({}),
});

const server = z.union([stdioServer, httpServer], {
  error: 'each server needs a name and either "command" (stdio) or "url" (Streamable HTTP)',
});

export const mcpServersFile = z
  .strictObject({ servers: z.array(server) })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.servers.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: `"${s.name}" is listed twice` });
      seen.add(s.name);
    });
  });

export type McpServersFile = z.infer<typeof mcpServersFile>;
export type McpServerConfig = McpServersFile['servers'][number];
export type McpStdioServer = z.infer<typeof stdioServer>;

export class McpConfigError extends Error {}

/** Parses the file's text; errors name the file and each bad field (`servers[1].url`). */
export function parseMcpServers(text: string, path: string): McpServerConfig[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new McpConfigError(`MCP_SERVERS: ${path} is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = mcpServersFile.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${fieldOf(issue.path) || '(the file)'}: ${issue.message}`);
    throw new McpConfigError([`MCP_SERVERS: ${path} is not a valid server list:`, ...lines, '  See examples/mcp-servers.json.'].join('\n'));
  }
  return parsed.data.servers;
}

export function loadMcpServers(path: string): McpServerConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new McpConfigError(`MCP_SERVERS: cannot read ${path} (${error instanceof Error ? error.message : String(error)})`);
  }
  return parseMcpServers(text, path);
}

function fieldOf(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

export function isStdio(server: McpServerConfig): server is McpStdioServer {
  return 'command' in server;
}
