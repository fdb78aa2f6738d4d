import { z } from 'zod';
import type { ToolSpec } from '../llm/types.ts';
import type { Hooks, Tool, ToolSource } from './types.ts';

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Every tool and hook the bot knows. Built-ins and plugins register here; the
 * tool loop asks it for specs and runs hooks in registration order.
 */
export class ToolRegistry implements ToolSource {
  readonly #tools = new Map<string, Tool>();
  readonly #hooks: Hooks[] = [];
  readonly #specs = new WeakMap<Tool, ToolSpec>();

  constructor(readonly defaultTimeoutMs = 10_000) {}

  register(tool: Tool): this {
    if (!TOOL_NAME.test(tool.name)) {
      throw new Error(`Tool name "${tool.name}" must be 1-64 letters, digits, _ or -`);
    }
    if (this.#tools.has(tool.name)) throw new Error(`Tool "${tool.name}" is already registered`);
    this.#tools.set(tool.name, tool);
    return this;
  }

  addHooks(hooks: Hooks): this {
    this.#hooks.push(hooks);
    return this;
  }

  get(name: string): Tool | undefined {
    return this.#tools.get(name);
  }

  list(): Tool[] {
    return [...this.#tools.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  hooks(): readonly Hooks[] {
    return this.#hooks;
  }

  timeoutFor(tool: Tool): number {
    return tool.timeoutMs ?? this.defaultTimeoutMs;
  }

  /** JSON-schema specs for the named tools (unknown names are skipped). */
  specs(names: readonly string[]): ToolSpec[] {
    const specs: ToolSpec[] = [];
    for (const name of names) {
      const tool = this.#tools.get(name);
      if (!tool) continue;
      // Converting a zod schema to JSON Schema is costly and a tool never changes once registered.
      let spec = this.#specs.get(tool);
      if (!spec) {
        spec = toToolSpec(tool);
        this.#specs.set(tool, spec);
      }
      specs.push(spec);
    }
    return specs;
  }
}

export function toToolSpec(tool: Tool): ToolSpec {
  const schema = z.toJSONSchema(tool.input, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  delete schema.$schema;
  return { name: tool.name, description: tool.description, parameters: schema };
}
