/**
 * Operator plugins: PLUGINS lists module paths whose default export registers
 * tools and hooks, so operators extend the bot without forking it.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../log.ts';
import type { ToolRegistry } from './registry.ts';
import { calculatorTool } from './builtin/calculator.ts';
import { currentTimeTool } from './builtin/current-time.ts';
import { modelCatalogTool } from './builtin/model-catalog.ts';
import type { Tool } from './types.ts';

export interface PluginApi {
  registry: ToolRegistry;
  logger: Logger;
}

/** What a plugin module's default export is. */
export type Plugin = (api: PluginApi) => void | Promise<void>;

export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}

export function registerBuiltinTools(registry: ToolRegistry): void {
  for (const tool of [currentTimeTool, calculatorTool, modelCatalogTool] as Tool[]) registry.register(tool);
}

export async function loadPlugins(paths: readonly string[], api: PluginApi, cwd = process.cwd()): Promise<void> {
  for (const path of paths) {
    const url = path.startsWith('file:') ? path : pathToFileURL(isAbsolute(path) ? path : resolve(cwd, path)).href;
    let mod: { default?: unknown };
    try {
      mod = (await import(url)) as { default?: unknown };
    } catch (error) {
      throw new Error(`PLUGINS: cannot load "${path}": ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (typeof mod.default !== 'function') {
      throw new Error(`PLUGINS: "${path}" must export a default function that registers tools and hooks`);
    }
    await (mod.default as Plugin)({ registry: api.registry, logger: api.logger.child({ plugin: path }) });
    api.logger.info({ plugin: path }, 'plugin loaded');
  }
}
