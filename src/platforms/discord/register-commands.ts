/**
 * Registers the commands with Discord (bulk overwrite, globally or in one
 * guild) and remembers what was registered, so `npm start` registers again
 * only when the definitions changed.
 */
import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { CommandDefinition } from '../../core/commands.ts';
import type { Store } from '../../store/types.ts';
import { commandsHash, commandsJson, type CommandJson } from './command-json.ts';

export const COMMANDS_HASH_KEY = 'discord.commands.hash';

export interface RegisterTarget {
  applicationId: string;
  guildId?: string;
}

export async function applicationIdOf(rest: REST): Promise<string> {
  const app = (await rest.get(Routes.currentApplication())) as { id: string };
  return app.id;
}

/** Overwrites every command at the target with `json`. */
export async function putCommands(rest: REST, target: RegisterTarget, json: readonly CommandJson[]): Promise<void> {
  const route = target.guildId
    ? Routes.applicationGuildCommands(target.applicationId, target.guildId)
    : Routes.applicationCommands(target.applicationId);
  await rest.put(route, { body: json });
}

export interface RegisterResult {
  registered: boolean;
  count: number;
  hash: string;
}

/**
 * Registers when the definitions' hash differs from the stored one (or when
 * `force` is set), then stores the new hash.
 */
export async function registerCommands(
  rest: REST,
  store: Pick<Store, 'getMeta' | 'setMeta'>,
  commands: readonly CommandDefinition[],
  target: RegisterTarget,
  options: { force?: boolean } = {},
): Promise<RegisterResult> {
  const json = commandsJson(commands);
  const hash = commandsHash(json, target);
  if (!options.force && (await store.getMeta(COMMANDS_HASH_KEY)) === hash) {
    return { registered: false, count: json.length, hash };
  }
  await putCommands(rest, target, json);
  await store.setMeta(COMMANDS_HASH_KEY, hash);
  return { registered: true, count: json.length, hash };
}

/** A registration failure in words someone setting up the bot can act on. */
export function explainRegistrationError(error: unknown, target: RegisterTarget): string {
  if (error instanceof DiscordAPIError) {
    if (error.status === 401) {
      return 'Discord rejected DISCORD_TOKEN (401 Unauthorized). Copy the bot token again from the developer portal (your application -> Bot -> Reset Token).';
    }
    if (error.code === 50001 && target.guildId) {
      return `The bot cannot register commands in guild ${target.guildId} (Missing Access). Invite it to that server with the applications.commands scope (see the README), or check DISCORD_GUILD_ID.`;
    }
    if (error.status === 400) {
      return `Discord refused the command definitions (${error.message}). This is a bug in a command definition; the details are in the log.`;
    }
    return `Discord answered ${error.status} ${error.code}: ${error.message}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `Could not reach Discord to register commands: ${message}`;
}
