/**
 * How tests start Switchboard's entry points as real processes: node with tsx
 * as a loader, as the npm scripts do, so signals reach our process directly
 * (tsx's CLI would run it in a child of its own).
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '../..');
const LOADER = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** Arguments for `spawn(process.execPath, entryArgs('src/main.ts'))`. */
export function entryArgs(script: string, ...args: string[]): string[] {
  return ['--import', LOADER, join(ROOT, script), ...args];
}
