/**
 * Tool names as people see them and as they go over the wire. OpenRouter (and
 * the providers behind it) take function names matching ^[a-zA-Z0-9_-]{1,64}$,
 * so a server tool `github.search_issues` goes out as `github__search_issues`
 * and comes back to the registry under that name.
 */
import { createHash } from 'node:crypto';

export const WIRE_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** An MCP server's name: it prefixes its tools (`<server>.<tool>`). */
export const GROUP_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,31}$/;

/** `<group>.*` enables every tool of a group, those that appear later included. */
export function isGroupPattern(name: string): boolean {
  return name.endsWith('.*') && GROUP_NAME.test(name.slice(0, -2));
}

export function groupOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : undefined;
}

/**
 * A wire name for `name` that none of `taken` has: the name itself when it is
 * already valid, else `.` becomes `__`, other characters `_`, and a short hash
 * keeps it unique and within 64 characters.
 */
export function toWireName(name: string, taken: (wire: string) => boolean): string {
  if (WIRE_NAME.test(name) && !taken(name)) return name;
  const dot = name.indexOf('.');
  const base = (dot > 0 ? `${name.slice(0, dot)}__${name.slice(dot + 1)}` : name).replace(/[^a-zA-Z0-9_-]/g, '_');
  if (base.length <= 64 && !taken(base)) return base;
  const hash = createHash('sha256').update(name).digest('hex');
  for (let i = 0; i < 8; i++) {
    const candidate = `${base.slice(0, 55)}_${hash.slice(i * 8, i * 8 + 8)}`;
    if (!taken(candidate)) return candidate;
  }
  throw new Error(`No free wire name for tool "${name}"`);
}
