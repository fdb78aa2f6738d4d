/**
 * `npm run chat`: talk to any OpenRouter model from the terminal with nothing
 * but an OpenRouter key. Logs go to standard error; answers to standard output.
 */
import { userInfo } from 'node:os';
import { createApp } from '../../app.ts';
import { loadConfigOrExplain } from '../../config.ts';
import { createLogger } from '../../log.ts';
import { startConsoleChat } from './console-chat.ts';

async function main(): Promise<number> {
  const config = loadConfigOrExplain();
  if (!config) return 1;
  const logger = createLogger({
    level: config.log.levelExplicit ? config.log.level : 'warn',
    pretty: config.log.pretty,
    secrets: config.secrets,
    destination: process.stderr,
  });
  let app;
  try {
    app = await createApp(config, { logger });
  } catch (error) {
    console.error(`Switchboard could not start: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const interactive = Boolean(process.stdin.isTTY);
  const name = safeUserName();
  if (interactive) {
    console.log(`Switchboard terminal chat · model ${config.defaults.model} · /help for commands, /quit to leave, Ctrl-C stops an answer`);
  }
  const chat = startConsoleChat({
    host: app.core.host,
    input: process.stdin,
    output: process.stdout,
    user: { id: name, name },
    color: Boolean(process.stdout.isTTY),
    prompt: interactive ? '\n> ' : undefined,
    imageDir: config.chatImageDir,
  });
  process.on('SIGINT', () => {
    if (!chat.interrupt()) process.exit(130);
  });
  await chat.done;
  await app.close();
  return 0;
}

function safeUserName(): string {
  try {
    return userInfo().username || 'you';
  } catch {
    return 'you';
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
