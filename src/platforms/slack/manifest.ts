/**
 * The Slack app manifest: every slash command from commands/, the bot scopes
 * and the events Switchboard needs. `npm run slack:manifest` prints it; paste
 * it into https://api.slack.com/apps -> Create New App -> From a manifest.
 */
import { pathToFileURL } from 'node:url';
import { commands as allCommands } from '../../../commands/index.ts';
import { DEFAULT_SUGGESTED_PROMPTS, loadSlackManifestConfig } from '../../config.ts';
import { usageOf, type CommandDefinition } from '../../core/commands.ts';
import { slackCommandName } from './command-names.ts';
import { suggestedPrompts } from './suggested-prompts.ts';

export interface SlackManifestOptions {
  /** Socket Mode (no public URL). When false, `requestUrl` is required. */
  socketMode: boolean;
  /** Public URL of the HTTP receiver, e.g. https://bot.example.com/slack/events. */
  requestUrl?: string;
  /** App and bot name (default Switchboard). */
  name?: string;
  commands?: readonly CommandDefinition[];
  /** SLACK_COMMAND_PREFIX: before every command name (`sb-` gives /sb-ask). */
  commandPrefix?: string;
  /** Offered in the assistant view (SLACK_SUGGESTED_PROMPTS). */
  suggestedPrompts?: readonly string[];
}

/** The bot scopes the adapter uses, each for a reason. */
export const SLACK_BOT_SCOPES = [
  'app_mentions:read', // app_mention events
  'chat:write', // answers, updates, streams, ephemeral replies
  'chat:write.public', // /ask answers in public channels the bot was not invited to
  'commands', // slash commands
  'im:history', // DM messages and DM thread history
  'im:read',
  'im:write',
  'channels:history', // conversations.replies in public channel threads
  'groups:history', // ... and in private channel threads
  'users:read', // names for thread history, workspace admins and owners
  'usergroups:read', // user groups as quota tiers and role rules (usergroups.list)
  'assistant:write', // the assistant view: thread status, title, suggested prompts
  'files:read', // url_private downloads of files attached to questions
  'files:write', // the App Home chart and pictures the model draws (files.uploadV2)
] as const;

export const SLACK_BOT_EVENTS = ['app_mention', 'message.im', 'assistant_thread_started', 'assistant_thread_context_changed', 'app_home_opened'] as const;

/** The part of `/name …` after the name, as Slack's usage hint. */
export function usageHint(command: CommandDefinition): string {
  const strip = (usage: string) => usage.replace(new RegExp(`^/${command.name}\\s*`), '');
  if (command.subcommands) {
    return Object.keys(command.subcommands)
      .map((sub) => strip(usageOf(command, sub)))
      .join(' | ');
  }
  return strip(usageOf(command));
}

export function buildSlackManifest(options: SlackManifestOptions): Record<string, unknown> {
  const name = (options.name ?? 'Switchboard').slice(0, 35);
  if (!options.socketMode && !options.requestUrl) {
    throw new Error('An HTTP-mode manifest needs a request URL (or use Socket Mode).');
  }
  const requestUrl = options.socketMode ? undefined : options.requestUrl;
  const withUrl = <T extends object>(value: T): T & { url?: string } => (requestUrl ? { ...value, url: requestUrl } : value);
  return {
    _metadata: { major_version: 1, minor_version: 1 },
    display_information: {
      name,
      description: 'Large language models in Slack through OpenRouter',
      long_description:
        'Switchboard answers questions with large language models from OpenRouter: mention it in a channel for a threaded, streamed answer, DM it, or use /ask. Admins pick the model, system prompt, tools and quotas per channel.',
      background_color: '#1d3557',
    },
    features: {
      app_home: { home_tab_enabled: true, messages_tab_enabled: true, messages_tab_read_only_enabled: false },
      bot_user: { display_name: name, always_online: true },
      assistant_view: {
        assistant_description: 'Ask a model from OpenRouter; the channel you are viewing decides which model and settings answer.',
        suggested_prompts: suggestedPrompts(options.suggestedPrompts ?? DEFAULT_SUGGESTED_PROMPTS),
      },
      slash_commands: (options.commands ?? allCommands).map((command) => {
        const hint = usageHint(command);
        return withUrl({
          command: slackCommandName(command, options.commandPrefix),
          description: command.description.slice(0, 100),
          ...(hint ? { usage_hint: hint.slice(0, 1000) } : {}),
          should_escape: true,
        });
      }),
    },
    oauth_config: { scopes: { bot: [...SLACK_BOT_SCOPES] } },
    settings: {
      event_subscriptions: { ...(requestUrl ? { request_url: requestUrl } : {}), bot_events: [...SLACK_BOT_EVENTS] },
      interactivity: { is_enabled: true, ...(requestUrl ? { request_url: requestUrl } : {}) },
      org_deploy_enabled: false,
      socket_mode_enabled: options.socketMode,
      token_rotation_enabled: false,
    },
  };
}

/** Reads `--request-url URL`, `--name NAME` and `--command-prefix PREFIX` (Socket Mode without a URL). */
export function parseManifestArgs(argv: readonly string[]): SlackManifestOptions {
  let requestUrl: string | undefined;
  let name: string | undefined;
  let commandPrefix: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--request-url') requestUrl = value();
    else if (flag === '--name') name = value();
    else if (flag === '--command-prefix') commandPrefix = value();
    else throw new Error(`Unknown argument ${arg}. Usage: npm run slack:manifest [-- --request-url https://host/slack/events] [--name Name] [--command-prefix sb-]`);
  }
  if (requestUrl !== undefined) {
    const url = new URL(requestUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('--request-url must be an http(s) URL');
  }
  if (commandPrefix !== undefined && !/^[a-z0-9][a-z0-9_-]{0,15}$/.test(commandPrefix)) throw new Error('--command-prefix must be up to 16 lowercase letters, digits, - or _');
  return { socketMode: requestUrl === undefined, requestUrl, name, ...(commandPrefix !== undefined ? { commandPrefix } : {}) };
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(entry).href) {
  try {
    // SLACK_COMMAND_PREFIX and SLACK_SUGGESTED_PROMPTS from the environment (or .env), unless given as arguments.
    const manifest = buildSlackManifest({ ...loadSlackManifestConfig(), ...parseManifestArgs(process.argv.slice(2)) });
    process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
