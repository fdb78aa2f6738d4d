/**
 * One MCP tool server: connects with the official SDK client (stdio or
 * Streamable HTTP), registers its tools in the registry as `<server>.<tool>`,
 * and reconnects with backoff whenever the connection fails or closes.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema, type CallToolResult, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Logger } from '../../log.ts';
import type { Clock } from '../../util/clock.ts';
import { truncate } from '../../util/text.ts';
import type { ToolRegistry } from '../registry.ts';
import type { Tool } from '../types.ts';
import { isStdio, type McpServerConfig } from './mcp-config.ts';

/** Waits between reconnection attempts; the last repeats. */
export const MCP_BACKOFF_MS = [1_000, 2_000, 5_000, 15_000, 30_000, 60_000] as const;
/** The handshake (initialize, tools/list) gives up after this long. */
const CONNECT_TIMEOUT_MS = 15_000;
/** The SDK's own request timeout stays out of the way: the tool runner's timeout (on the clock) governs. */
const SDK_CALL_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export interface McpServerDeps {
  registry: ToolRegistry;
  clock: Clock;
  logger: Logger;
  /** Longest tool result handed to the model, in characters. */
  resultMaxChars: number;
  backoffMs?: readonly number[];
}

/** Any arguments object: the server checks its own schema (sent to the model as `parameters`). */
const anyArguments = z.looseObject({});

export class McpServer {
  #client: Client | undefined;
  #reason = 'not connected yet';
  #closed = false;
  /** An HTTP server's calls are failing while the connection itself looks open. */
  #callsFailing = false;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  readonly #log: Logger;

  constructor(
    readonly config: McpServerConfig,
    private readonly deps: McpServerDeps,
  ) {
    this.#log = deps.logger.child({ mcpServer: config.name });
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Starts connecting; resolves once the first attempt succeeded or failed (later attempts run on their own). */
  start(): Promise<void> {
    let first!: () => void;
    const firstDone = new Promise<void>((resolve) => (first = resolve));
    this.#loop = this.#run(first);
    return firstDone;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort(new Error('closing'));
    const client = this.#client;
    this.#client = undefined;
    await client?.close().catch((error: unknown) => this.#log.warn({ err: error }, 'closing the MCP connection failed'));
    await this.#loop;
    this.deps.registry.setGroupState(this.config.name, { state: 'closed' });
  }

  async #run(firstDone: () => void): Promise<void> {
    const { registry, clock } = this.deps;
    const backoff = this.deps.backoffMs ?? MCP_BACKOFF_MS;
    let failures = 0;
    while (!this.#closed) {
      registry.setGroupState(this.config.name, { state: 'connecting' });
      let closedWait: Promise<string> | undefined;
      try {
        closedWait = (await this.#connect()).closed;
        failures = 0;
      } catch (error) {
        this.#reason = errorText(error);
        this.#log.warn({ err: this.#reason }, 'MCP server could not be connected');
      }
      firstDone();
      if (closedWait) {
        registry.setGroupState(this.config.name, { state: 'connected' });
        this.#log.info({ tools: registry.groups().find((g) => g.name === this.config.name)?.tools }, 'MCP server connected');
        this.#reason = await closedWait;
        this.#client = undefined;
        if (this.#closed) break;
        this.#log.warn({ reason: this.#reason }, 'MCP server connection lost; reconnecting');
      }
      const delay = backoff[Math.min(failures, backoff.length - 1)] ?? 60_000;
      failures += 1;
      registry.setGroupState(this.config.name, { state: 'failing', reason: this.#reason });
      await clock.sleep(delay, this.#stop.signal).catch(() => undefined);
    }
  }

  /** Connects and registers the tools; `closed` resolves with why the connection later closed. */
  async #connect(): Promise<{ closed: Promise<string> }> {
    const client = new Client({ name: 'switchboard', version: '1.0.0' });
    let onClosed!: (reason: string) => void;
    const closed = new Promise<string>((resolve) => (onClosed = resolve));
    let lastError: string | undefined;
    client.onerror = (error) => {
      lastError = errorText(error);
      this.#log.debug({ err: lastError }, 'MCP transport error');
    };
    client.onclose = () => onClosed(lastError ? `the connection closed (${lastError})` : 'the connection closed');
    const transport = this.#transport();
    try {
      await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS, signal: this.#stop.signal });
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        void this.#listTools(client).catch((error: unknown) => this.#log.warn({ err: errorText(error) }, 'reading the changed tool list failed'));
      });
      await this.#listTools(client);
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.close().catch(() => undefined);
      throw new Error('closing');
    }
    this.#client = client;
    return { closed };
  }

  #transport(): Transport {
    const server = this.config;
    if (isStdio(server)) {
      const transport = new StdioClientTransport({ command: server.command, args: server.args, env: server.env, cwd: server.cwd, stderr: 'pipe' });
      // The server's own log lines, kept short: never its whole output in ours.
      transport.stderr?.on('data', (chunk: Buffer) => this.#log.debug({ stderr: truncate(chunk.toString('utf8').trim(), 500) }, 'MCP server stderr'));
      return transport;
    }
    return new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers } });
  }

  async #listTools(client: Client): Promise<void> {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: CONNECT_TIMEOUT_MS });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor && tools.length < 1000);
    const usable = tools.filter((tool) => /^[a-zA-Z0-9_.-]{1,128}$/.test(tool.name));
    if (usable.length < tools.length) this.#log.warn({ skipped: tools.length - usable.length }, 'MCP tools with names outside [A-Za-z0-9_.-] skipped');
    this.deps.registry.setGroup(this.config.name, usable.map((tool) => this.#toTool(tool)));
  }

  #toTool(tool: McpTool): Tool {
    const name = `${this.config.name}.${tool.name}`;
    return {
      name,
      description: truncate(tool.description ?? tool.title ?? tool.annotations?.title ?? tool.name, 1000),
      input: anyArguments,
      parameters: { ...tool.inputSchema },
      ...(tool.annotations?.destructiveHint === true ? { destructive: true } : {}),
      ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
      execute: (input, ctx) => this.#call(tool.name, input, ctx.signal),
    };
  }

  async #call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<string> {
    const client = this.#client;
    if (!client) throw new Error(`the tool server "${this.config.name}" is not connected (${this.#reason}); it reconnects on its own, try again shortly`);
    let result: CallToolResult;
    try {
      result = (await client.callTool({ name: tool, arguments: args }, undefined, { signal, timeout: SDK_CALL_TIMEOUT_MS })) as CallToolResult;
    } catch (error) {
      if (signal.aborted) throw error;
      // A stateless HTTP server going away closes no connection: its calls are how it shows (stdio reconnects on close).
      if (this.#client === client && !isStdio(this.config)) {
        this.#callsFailing = true;
        this.deps.registry.setGroupState(this.config.name, { state: 'failing', reason: `the last call failed: ${errorText(error)}` });
      }
      throw new Error(`the tool server "${this.config.name}" failed during the call: ${errorText(error)}`, { cause: error });
    }
    if (this.#callsFailing && this.#client === client) {
      this.#callsFailing = false;
      this.deps.registry.setGroupState(this.config.name, { state: 'connected' });
    }
    const text = capResult(resultText(result), this.deps.resultMaxChars);
    if (result.isError) throw new Error(text || 'the tool reported an error');
    return text;
  }
}

/** The result's content as text for the model: text parts as they are, other parts named. */
export function resultText(result: CallToolResult): string {
  const parts: string[] = [];
  for (const item of result.content ?? []) {
    if (item.type === 'text') parts.push(item.text);
    else if (item.type === 'resource' && 'text' in item.resource) parts.push(item.resource.text);
    else if (item.type === 'resource_link') parts.push(`[resource ${item.uri}]`);
    else parts.push(`[${item.type} omitted]`);
  }
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return parts.join('\n');
}

export function capResult(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}\n[… result cut: ${(text.length - maxChars).toLocaleString('en-US')} more characters]`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
