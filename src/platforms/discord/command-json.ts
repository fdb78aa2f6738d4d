/**
 * Turns the platform-neutral command definitions into Discord's application
 * command JSON (API v10). Pure: no discord.js client, so it is unit-tested
 * alone and shared by `npm start` and `npm run commands:deploy`.
 */
import { createHash } from 'node:crypto';
import { describeOptions, type CommandDefinition, type OptionInfo } from '../../core/commands.ts';

/** Discord's numeric option types. */
export const OptionType = {
  Subcommand: 1,
  String: 3,
  Integer: 4,
  Boolean: 5,
  Number: 10,
  Attachment: 11,
} as const;

/** Manage Guild (1 << 5): the permission admin-only commands require by default. */
export const MANAGE_GUILD = 1n << 5n;
export const ADMINISTRATOR = 1n << 3n;

/** Interaction contexts: 0 guild, 1 the bot's DMs, 2 private channels (group DMs, DMs between users: a user install). */
const CONTEXTS = [0, 1, 2];
/** Installation types: 0 a server adds the app, 1 a user adds it to their account (usable in any DM or group DM). */
const INTEGRATION_TYPES = [0, 1];

const NAME = /^[-_\p{Ll}\p{Lo}\p{N}]{1,32}$/u;
const MAX_DESCRIPTION = 100;
const MAX_OPTIONS = 25;
const MAX_CHOICES = 25;
const MAX_COMMANDS = 100;

export interface OptionJson {
  type: number;
  name: string;
  description: string;
  required?: boolean;
  choices?: Array<{ name: string; value: string }>;
  min_value?: number;
  max_value?: number;
  max_length?: number;
  autocomplete?: boolean;
  options?: OptionJson[];
}

export interface CommandJson {
  type: 1;
  name: string;
  description: string;
  options: OptionJson[];
  default_member_permissions: string | null;
  contexts: number[];
  integration_types: number[];
}

/** A definition Discord would refuse; thrown at build time so the message names the command. */
export class CommandJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandJsonError';
  }
}

function description(text: string): string {
  const trimmed = text.trim() || '-';
  return trimmed.length <= MAX_DESCRIPTION ? trimmed : `${trimmed.slice(0, MAX_DESCRIPTION - 1)}…`;
}

function checkName(name: string, where: string): string {
  if (!NAME.test(name)) {
    throw new CommandJsonError(`${where}: "${name}" is not a valid Discord name (1-32 lowercase letters, digits, - or _)`);
  }
  return name;
}

export function optionJson(info: OptionInfo, where: string): OptionJson {
  const type = info.hints.attachment
    ? OptionType.Attachment
    : info.kind === 'integer'
      ? OptionType.Integer
      : info.kind === 'number'
        ? OptionType.Number
        : info.kind === 'boolean'
          ? OptionType.Boolean
          : OptionType.String;
  const json: OptionJson = {
    type,
    name: checkName(info.name, where),
    description: description(info.description),
    required: info.required,
  };
  if (info.choices && info.choices.length > 0) {
    if (info.choices.length > MAX_CHOICES) throw new CommandJsonError(`${where} ${info.name}: more than ${MAX_CHOICES} choices`);
    json.choices = info.choices.map((c) => ({ name: c, value: c }));
  } else if (info.hints.autocomplete && type === OptionType.String) {
    json.autocomplete = true;
  }
  if (type === OptionType.Integer || type === OptionType.Number) {
    if (info.min !== undefined) json.min_value = info.min;
    if (info.max !== undefined) json.max_value = info.max;
  }
  if (type === OptionType.String && info.maxLength !== undefined) json.max_length = Math.min(info.maxLength, 6000);
  return json;
}

function optionsJson(infos: OptionInfo[], where: string): OptionJson[] {
  if (infos.length > MAX_OPTIONS) throw new CommandJsonError(`${where}: more than ${MAX_OPTIONS} options`);
  const json = infos.map((info) => optionJson(info, where));
  // Discord requires every required option before the optional ones.
  return [...json.filter((o) => o.required), ...json.filter((o) => !o.required)];
}

/** Whether a command is admin-only as a whole (itself, or every one of its subcommands). */
export function isAdminOnly(command: CommandDefinition): boolean {
  if (command.admin) return true;
  const subs = Object.values(command.subcommands ?? {});
  return subs.length > 0 && subs.every((s) => s.admin === true);
}

export function commandJson(command: CommandDefinition): CommandJson {
  const where = `/${command.name}`;
  checkName(command.name, 'command');
  let options: OptionJson[];
  if (command.subcommands) {
    const entries = Object.entries(command.subcommands);
    if (entries.length > MAX_OPTIONS) throw new CommandJsonError(`${where}: more than ${MAX_OPTIONS} subcommands`);
    options = entries.map(([name, sub]) => ({
      type: OptionType.Subcommand,
      name: checkName(name, where),
      description: description(sub.description),
      options: optionsJson(describeOptions(sub.options), `${where} ${name}`),
    }));
  } else {
    options = optionsJson(describeOptions(command.options), where);
  }
  return {
    type: 1,
    name: command.name,
    description: description(command.description),
    options,
    // Only a default for who sees the command; the core still checks every use.
    default_member_permissions: isAdminOnly(command) ? MANAGE_GUILD.toString() : null,
    contexts: CONTEXTS,
    integration_types: INTEGRATION_TYPES,
  };
}

export function commandsJson(commands: readonly CommandDefinition[]): CommandJson[] {
  if (commands.length > MAX_COMMANDS) throw new CommandJsonError(`more than ${MAX_COMMANDS} commands`);
  const names = new Set<string>();
  return commands.map((command) => {
    if (names.has(command.name)) throw new CommandJsonError(`/${command.name} is defined twice`);
    names.add(command.name);
    return commandJson(command);
  });
}

/** Identifies one registration: the JSON and where it goes. */
export function commandsHash(json: readonly CommandJson[], target: { applicationId: string; guildId?: string }): string {
  return createHash('sha256')
    .update(JSON.stringify({ target: `${target.applicationId}/${target.guildId ?? 'global'}`, json }))
    .digest('hex');
}
