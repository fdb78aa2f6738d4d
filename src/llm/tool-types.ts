/**
 * The contract between the LLM service and tools: what a tool is, the hooks
 * around requests and tool calls, and what a request tells them. Defined here
 * so src/llm imports nothing from src/tools (src/tools/types.ts re-exports it).
 */
import type { z } from 'zod';
import type { ChatRequest, ModelCatalog, StreamEvent, ToolSpec } from './types.ts';

/** Who a request is for and where; handed to tools and hooks. */
export interface RequestContext {
  requestId: string;
  platform: string;
  workspaceId: string;
  channelId: string;
  userId: string;
  catalog: ModelCatalog;
  now(): Date;
}

export interface ToolContext extends RequestContext {
  /** Aborted when the request is cancelled or the tool's timeout passes. */
  signal: AbortSignal;
}

/**
 * A tool is a pure function with a schema. `execute` returns anything JSON
 * serialisable (strings are sent as they are); throwing makes the error message
 * the tool's result, marked as an error, and the model carries on.
 */
export interface Tool<I extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  input: I;
  /** Overrides the registry's default per-tool timeout. */
  timeoutMs?: number;
  /**
   * JSON Schema sent to the model instead of one derived from `input` (tools
   * from an MCP server describe their arguments this way; the server checks them).
   */
  parameters?: Record<string, unknown>;
  /** The tool changes or deletes things (MCP `destructiveHint`): it runs only after the asker allows it. */
  destructive?: boolean;
  execute(input: z.infer<I>, ctx: ToolContext): unknown;
}


export type ToolCallDecision =
  | { action: 'allow' }
  | { action: 'deny'; reason: string }
  | { action: 'rewrite'; args: unknown };

export interface ToolCallInfo {
  callId: string;
  name: string;
  args: unknown;
}

export interface ToolResultInfo extends ToolCallInfo {
  content: string;
  isError: boolean;
  durationMs: number;
}

export type RequestOutcome =
  | { type: 'done'; result: Extract<StreamEvent, { type: 'done' }>['result'] }
  | { type: 'error'; event: Extract<StreamEvent, { type: 'error' }> };

export interface Hooks {
  /** May rewrite the request (return a new one) before it is sent. */
  beforeRequest?(request: ChatRequest, ctx: RequestContext): ChatRequest | void | Promise<ChatRequest | void>;
  afterRequest?(outcome: RequestOutcome, ctx: RequestContext): void | Promise<void>;
  /** Allow, deny (the reason goes back to the model as the result) or rewrite the arguments. */
  beforeToolCall?(call: ToolCallInfo, ctx: RequestContext): ToolCallDecision | void | Promise<ToolCallDecision | void>;
  /** Observes each result. */
  afterToolCall?(result: ToolResultInfo, ctx: RequestContext): void | Promise<void>;
}

/**
 * What the LLM service needs of the tool registry (src/tools/registry.ts
 * implements it): the tools layer depends on llm, never the other way round.
 */
export interface ToolSource {
  get(name: string): Tool | undefined;
  hooks(): readonly Hooks[];
  timeoutFor(tool: Tool): number;
  specs(names: readonly string[]): ToolSpec[];
}
