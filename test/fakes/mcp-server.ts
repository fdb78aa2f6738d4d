/**
 * A fake MCP tool server for tests, over stdio (run this file with
 * `node --import tsx`) or Streamable HTTP (startFakeMcpHttp, in process on
 * 127.0.0.1). Tools: `echo` (normal), `slow` (waits until released or
 * cancelled), `delete_everything` (destructiveHint), `crash` (the crash
 * switch: the process exits, or the HTTP server goes away, mid-call).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export const FAKE_MCP_TOOLS = [
  {
    name: 'echo',
    description: 'Echo the text back',
    inputSchema: { type: 'object', properties: { text: { type: 'string', description: 'What to echo' } }, required: ['text'] },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'slow',
    description: 'Waits until the test releases it',
    inputSchema: { type: 'object', properties: {} },
  },
  {
    name: 'delete_everything',
    description: 'Pretends to delete everything',
    inputSchema: { type: 'object', properties: { what: { type: 'string' } } },
    annotations: { destructiveHint: true },
  },
  {
    name: 'crash',
    description: 'Crashes the server mid-call',
    inputSchema: { type: 'object', properties: {} },
  },
  {
    name: 'big',
    description: 'Returns a long text',
    inputSchema: { type: 'object', properties: { chars: { type: 'number' } } },
  },
] as const;

export interface FakeMcpBehaviour {
  /** Called by `crash`; the server never answers that call. */
  crash(): void;
  /** Resolves a pending `slow` call when the test says so (HTTP only; stdio never releases). */
  slow?: () => Promise<void>;
  /** Every call seen, in order. */
  calls: Array<{ name: string; args: Record<string, unknown> }>;
  /** Header values seen (HTTP). */
  headers?: Array<Record<string, string | string[] | undefined>>;
}

export function createFakeMcpServer(behaviour: FakeMcpBehaviour, name = 'fake-mcp'): Server {
  const server = new Server({ name, version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: FAKE_MCP_TOOLS.map((t) => ({ ...t })) }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const args: Record<string, unknown> = request.params.arguments ?? {};
    behaviour.calls.push({ name: request.params.name, args });
    switch (request.params.name) {
      case 'echo':
        return { content: [{ type: 'text', text: `echo: ${String(args.text)}` }] };
      case 'delete_everything':
        return { content: [{ type: 'text', text: `deleted ${typeof args.what === 'string' ? args.what : 'everything'} (not really)` }] };
      case 'big':
        return { content: [{ type: 'text', text: 'x'.repeat(Number(args.chars ?? 100_000)) }] };
      case 'slow':
        await new Promise<void>((resolve) => {
          extra.signal.addEventListener('abort', () => resolve(), { once: true });
          void behaviour.slow?.().then(resolve);
        });
        return { content: [{ type: 'text', text: 'slow done' }] };
      case 'crash':
        behaviour.crash();
        return new Promise<never>(() => undefined);
      default:
        return { content: [{ type: 'text', text: `unknown tool ${request.params.name}` }], isError: true };
    }
  });
  return server;
}

export interface FakeMcpHttp {
  url: string;
  behaviour: FakeMcpBehaviour;
  /** The crash switch: every open connection is destroyed and the port refuses until restart(). */
  crash(): void;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** A stateless Streamable HTTP MCP server on 127.0.0.1. */
export async function startFakeMcpHttp(): Promise<FakeMcpHttp> {
  let http: HttpServer | undefined;
  let port = 0;
  const behaviour: FakeMcpBehaviour = { calls: [], headers: [], crash: () => fake.crash() };
  const listen = async () => {
    const server = createServer((req, res) => {
      behaviour.headers!.push({ ...req.headers });
      const mcp = createFakeMcpServer(behaviour);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      void mcp
        .connect(transport)
        .then(() => transport.handleRequest(req, res))
        .catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    http = server;
  };
  await listen();
  const fake: FakeMcpHttp = {
    url: `http://127.0.0.1:${port}/mcp`,
    behaviour,
    crash() {
      const server = http;
      http = undefined;
      server?.closeAllConnections();
      server?.close();
    },
    restart: listen,
    async close() {
      const server = http;
      http = undefined;
      if (!server) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

/** Run as a stdio server: `node --import tsx test/fakes/mcp-server.ts`. */
async function runStdio(): Promise<void> {
  const behaviour: FakeMcpBehaviour = { calls: [], crash: () => process.exit(3) };
  await createFakeMcpServer(behaviour, process.env.FAKE_MCP_NAME ?? 'fake-mcp').connect(new StdioServerTransport());
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void runStdio();
