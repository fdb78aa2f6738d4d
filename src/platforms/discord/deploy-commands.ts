/**
 * `npm run commands:deploy`: registers every command from commands/ with
 * Discord (globally, or in DISCORD_GUILD_ID) and exits. `npm start` does the
 * same by itself when the definitions changed; this is for doing it by hand.
 */
import { pathToFileURL } from 'node:url';
import { REST } from 'discord.js';
import { commands } from '../../../commands/index.ts';
import { loadConfigOrExplain, type Config } from '../../config.ts';
import { createLogger, type Logger } from '../../log.ts';
import { createStore } from '../../store/index.ts';
import { CommandJsonError } from './command-json.ts';
import { applicationIdOf, explainRegistrationError, registerCommands, type RegisterTarget } from './register-commands.ts';

export interface DeployOptions {
  logger: Logger;
  /** Where the result is written for the person running the script. */
  write(line: string): void;
}

/** Registers the commands; returns the exit code. */
export async function deployCommands(config: Config, options: DeployOptions): Promise<number> {
  const discord = config.discord;
  if (!discord) {
    options.write('DISCORD_TOKEN is not set: put the bot token from the Discord developer portal in .env (see the README).');
    return 1;
  }
  const rest = new REST(discord.apiUrl ? { api: discord.apiUrl } : {}).setToken(discord.token);
  let target: RegisterTarget | undefined;
  const store = await createStore(config.databaseUrl, { logger: options.logger });
  try {
    await store.migrate();
    target = { applicationId: await applicationIdOf(rest), guildId: discord.guildId };
    const result = await registerCommands(rest, store, commands, target, { force: true });
    options.write(
      target.guildId
        ? `Registered ${result.count} commands in guild ${target.guildId}; they are available right away.`
        : `Registered ${result.count} commands globally; Discord may take a few minutes to show them everywhere.`,
    );
    return 0;
  } catch (error) {
    if (error instanceof CommandJsonError) {
      options.write(`A command definition is not valid for Discord: ${error.message}`);
    } else {
      options.logger.debug({ err: error }, 'command registration failed');
      options.write(explainRegistrationError(error, target ?? { applicationId: 'unknown', guildId: discord.guildId }));
    }
    return 1;
  } finally {
    await store.close();
  }
}

async function main(): Promise<number> {
  const config = loadConfigOrExplain();
  if (!config) return 1;
  const logger = createLogger({ level: config.log.levelExplicit ? config.log.level : 'warn', pretty: config.log.pretty, secrets: config.secrets });
  return deployCommands(config, { logger, write: (line) => process.stdout.write(`${line}\n`) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`commands:deploy failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
