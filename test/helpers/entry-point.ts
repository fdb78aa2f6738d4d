/**
 * How tests start Switchboard's entry points as real processes: node with tsx
 * as a loader, as the npm scripts do, so signals reach our process directly
 * (tsx's CLI would run it in a child of its own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '../..');
const LOADER = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** Arguments for `spawn(process.execPath, entryArgs('src/main.ts'))`. */
export function entryArgs(script: string, ...args: string[]): string[] {
  return ['--import', LOADER, join(ROOT, script), ...args];
}

export interface BotProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `npm start`'s entry point as its own process with a clean environment:
 * only PATH, HOME, JSON logs at info, and the variables given.
 */
export function spawnBot(env: Record<string, string>, cwd = ROOT): BotProcess {
  return spawnEntry('src/main.ts', env, cwd);
}

/** Any entry point the npm scripts run (e.g. src/ops/discord-proxy.ts for `npm run discord:proxy`), as spawnBot does. */
export function spawnEntry(script: string, env: Record<string, string>, cwd = ROOT): BotProcess {
  const child = spawn(process.execPath, entryArgs(script), {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}
