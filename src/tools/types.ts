/** Tools and hooks: the contract lives beside the LLM service that runs them (src/llm/tool-types.ts). */
import type { z } from 'zod';
import type { Tool } from '../llm/tool-types.ts';

export type {
  Hooks,
  RequestContext,
  RequestOutcome,
  Tool,
  ToolCallDecision,
  ToolCallInfo,
  ToolContext,
  ToolResultInfo,
  ToolSource,
} from '../llm/tool-types.ts';

export function defineTool<I extends z.ZodObject>(tool: Tool<I>): Tool<I> {
  return tool;
}
