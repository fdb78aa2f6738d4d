import { z } from 'zod';
import type { ToolSpec } from '../llm/types.ts';
import { GROUP_NAME, groupOf, isGroupPattern, toWireName, WIRE_NAME } from './tool-names.ts';
import type { Hooks, Tool, ToolSource } from './types.ts';

/** A tool of a group (an MCP server's): `<group>.<tool>`, the tool part as MCP allows. */
const GROUP_TOOL_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,31}\.[a-zA-Z0-9_.-]{1,128}$/;

/** How a group of tools (an MCP server) is doing, for /tools list. */
export type ToolGroupState =
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'failing'; reason: string }
  | { state: 'closed' };

/**
 * Every tool and hook the bot knows. Built-ins and plugins register here; the
 * tool loop asks it for specs and runs hooks in registration order.
 */
export class ToolRegistry implements ToolSource {
  readonly #tools = new Map<string, Tool>();
  readonly #hooks: Hooks[] = [];
  readonly #specs = new WeakMap<Tool, ToolSpec>();
  /** Wire name (what the model sees and calls) -> tool, and back. */
  readonly #byWire = new Map<string, Tool>();
  readonly #wireOf = new Map<string, string>();
  readonly #groups = new Map<string, ToolGroupState>();

  constructor(readonly defaultTimeoutMs = 10_000) {}

  register(tool: Tool): this {
    if (!WIRE_NAME.test(tool.name)) {
      throw new Error(`Tool name "${tool.name}" must be 1-64 letters, digits, _ or -`);
    }
    this.#add(tool);
    return this;
  }

  #add(tool: Tool): void {
    if (this.#tools.has(tool.name)) throw new Error(`Tool "${tool.name}" is already registered`);
    // A plain name keeps its wire name; a group's tool yields to it (and gets a hashed one when needed).
    const owner = this.#byWire.get(tool.name);
    if (owner && WIRE_NAME.test(tool.name)) {
      this.#byWire.delete(tool.name);
      this.#tools.set(tool.name, tool);
      this.#setWire(tool, tool.name);
      this.#wireOf.delete(owner.name);
      this.#setWire(owner, toWireName(owner.name, (w) => this.#byWire.has(w)));
      return;
    }
    this.#tools.set(tool.name, tool);
    this.#setWire(tool, toWireName(tool.name, (w) => this.#byWire.has(w)));
  }

  #setWire(tool: Tool, wire: string): void {
    this.#byWire.set(wire, tool);
    this.#wireOf.set(tool.name, wire);
    this.#specs.delete(tool);
  }

  /**
   * Replaces every tool of a group (an MCP server's, named `<group>.<tool>`)
   * with these; an empty list removes them (the server went away).
   */
  setGroup(group: string, tools: readonly Tool[]): this {
    if (!GROUP_NAME.test(group)) throw new Error(`Tool group "${group}" must start with a letter and have at most 32 letters, digits, _ or -`);
    for (const tool of tools) {
      if (!GROUP_TOOL_NAME.test(tool.name) || groupOf(tool.name) !== group) {
        throw new Error(`Tool "${tool.name}" of group "${group}" must be named ${group}.<tool> (letters, digits, _ - .)`);
      }
    }
    for (const name of [...this.#tools.keys()]) {
      if (groupOf(name) !== group) continue;
      const wire = this.#wireOf.get(name);
      if (wire !== undefined) this.#byWire.delete(wire);
      this.#wireOf.delete(name);
      this.#tools.delete(name);
    }
    for (const tool of tools) this.#add(tool);
    return this;
  }

  setGroupState(group: string, state: ToolGroupState): void {
    this.#groups.set(group, state);
  }

  /** Each group (MCP server) and how it is doing, by name. */
  groups(): Array<{ name: string; state: ToolGroupState; tools: number }> {
    return [...this.#groups].map(([name, state]) => ({ name, state, tools: this.list().filter((t) => groupOf(t.name) === name).length }));
  }

  /** The name the model sees for a tool. */
  wireName(name: string): string | undefined {
    return this.#wireOf.get(name);
  }

  /** Tool names with `<group>.*` patterns expanded to the group's tools (unknown names kept as they are). */
  expand(names: readonly string[]): string[] {
    const out = new Set<string>();
    for (const name of names) {
      if (!isGroupPattern(name)) {
        out.add(name);
        continue;
      }
      const group = name.slice(0, -2);
      for (const tool of [...this.#tools.keys()].sort()) if (groupOf(tool) === group) out.add(tool);
    }
    return [...out];
  }

  addHooks(hooks: Hooks): this {
    this.#hooks.push(hooks);
    return this;
  }

  /** By its name, or by the wire name the model calls it by. */
  get(name: string): Tool | undefined {
    return this.#tools.get(name) ?? this.#byWire.get(name);
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

  /** JSON-schema specs for the named tools and `<group>.*` patterns, under their wire names (unknown names are skipped). */
  specs(names: readonly string[]): ToolSpec[] {
    const specs: ToolSpec[] = [];
    for (const name of this.expand(names)) {
      const tool = this.#tools.get(name);
      if (!tool) continue;
      // Converting a zod schema to JSON Schema is costly and a tool never changes once registered.
      let spec = this.#specs.get(tool);
      if (!spec) {
        spec = { ...toToolSpec(tool), name: this.#wireOf.get(tool.name) ?? tool.name };
        this.#specs.set(tool, spec);
      }
      specs.push(spec);
    }
    return specs;
  }
}

export function toToolSpec(tool: Tool): ToolSpec {
  if (tool.parameters) return { name: tool.name, description: tool.description, parameters: tool.parameters };
  const schema = z.toJSONSchema(tool.input, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  delete schema.$schema;
  return { name: tool.name, description: tool.description, parameters: schema };
}
