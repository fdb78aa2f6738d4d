/**
 * Commands are data plus a function. One definition serves Discord, Slack and
 * the terminal; adapters turn it into their own command shape and hand every
 * invocation to runCommand.
 */
import { z } from 'zod';
import type { Logger } from '../log.ts';
import type { HistoryMessage } from './conversation.ts';
import { genericErrorMessage, newErrorId, restartingError, UserFacingError } from './errors.ts';
import type { Place } from './settings.ts';
import type { MessageSurface } from './types.ts';
import type { Core } from './core.ts';
import type { ConversationRef } from './conversation-key.ts';
import type { MessagePart } from '../llm/types.ts';
import type { RoleLookup } from './roles.ts';
import type { InboundAttachment } from './attachments.ts';

export interface CommandUser {
  id: string;
  name: string;
}

/** One use of a command, as an adapter describes it (with the platform's role lookups where it has them). */
export interface Invocation extends Place, RoleLookup {
  user: CommandUser;
  /** The platform's own notion of an admin (Manage Guild, workspace admin). */
  isPlatformAdmin(): Promise<boolean>;
  /** Where the conversation lives (thread, reply chain, channel); see conversation-key.ts. */
  conversation?: ConversationRef;
  /** The key derived from `conversation` by the core (history, /new). */
  conversationKey: string;
  /** The message's content as parts, when it came as a message rather than command options. */
  parts?: MessagePart[];
  /** Files attached to the message or the command (not yet downloaded). */
  attachments?: InboundAttachment[];
  reply(text: string, options?: { ephemeral?: boolean }): Promise<void>;
  /** False where an "ephemeral" reply is still seen by others (a reply to a Discord channel message). */
  privateReplies?: boolean;
  /** Where /ask streams its answer. */
  answerSurface(): Promise<MessageSurface>;
  /** The conversation so far, oldest first. */
  history?(): Promise<HistoryMessage[]>;
  /** Resolves a user mention or id to a known user; undefined when nobody matches. */
  lookupUser?(ref: string): Promise<CommandUser | undefined>;
  /** Told when an answer is complete (the terminal keeps its own history), with a parsed PDF's annotations. */
  onAnswer?(prompt: string, answer: string, annotations?: unknown[]): void;
  signal?: AbortSignal;
  /** Set by adapters that need the id before the answer starts (button ids). */
  requestId?: string;
}

export interface CommandContext<O> {
  options: O;
  invocation: Invocation;
  core: Core;
  /** Whether the person is an admin; looked up on first call (once). */
  isAdmin: () => Promise<boolean>;
  logger: Logger;
  /** Replies to the person who asked; ephemeral where the platform has it. */
  reply: (text: string, options?: { ephemeral?: boolean }) => Promise<void>;
}

export interface OptionHints {
  /** Adapters offer autocomplete from the catalog or the tool registry. */
  autocomplete?: 'model' | 'tool';
  /** A file the person attaches (Discord's attachment option); it reaches the command as `invocation.attachments`. */
  attachment?: true;
}

export interface Subcommand<S extends z.ZodObject = z.ZodObject> {
  description: string;
  options?: S;
  admin?: boolean;
  execute(ctx: CommandContext<z.infer<S>>): Promise<void>;
}

/** A command whose result is an answer streamed into the channel (deferred publicly, Retry, threads). */
export interface StreamsAnswer {
  /** The option that carries the question; a message addressed to the bot fills it. */
  promptOption: string;
  /** A boolean option asking for an answer only the asker sees (an ephemeral reply, where the platform has one). */
  privateOption?: string;
}

/** Whether an invocation's options ask for a private answer (StreamsAnswer.privateOption set to true). */
export function wantsPrivateAnswer(command: Pick<CommandDefinition, 'streamsAnswer'>, options: Record<string, unknown>): boolean {
  const option = command.streamsAnswer?.privateOption;
  return option !== undefined && options[option] === true;
}

export interface CommandDefinition<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  options?: S;
  admin?: boolean;
  /** Set for commands that stream an answer; adapters defer publicly and offer Retry for them. */
  streamsAnswer?: StreamsAnswer;
  /** Messages addressed to the bot (mentions, DMs, replies to answers) run this command. At most one command sets it. */
  answersMessages?: boolean;
  execute?(ctx: CommandContext<z.infer<S>>): Promise<void>;
  subcommands?: Record<string, Subcommand>;
}

export function defineCommand<S extends z.ZodObject>(def: CommandDefinition<S>): CommandDefinition {
  return def;
}

export function defineSubcommand<S extends z.ZodObject>(def: Subcommand<S>): Subcommand {
  return def;
}

/** Marks a string option for autocomplete. */
export function withHints<T extends z.ZodType>(schema: T, hints: OptionHints): T {
  return schema.meta({ ...hints });
}

export function optionHints(schema: z.ZodType): OptionHints {
  let current: z.ZodType = schema;
  for (let i = 0; i < 4; i++) {
    const meta = current.meta() as OptionHints | undefined;
    if (meta?.autocomplete || meta?.attachment) return meta;
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodNullable) {
      current = current.unwrap() as z.ZodType;
    } else break;
  }
  return {};
}

/** The base kind of an option, for adapters that need typed options. */
export type OptionKind = 'string' | 'integer' | 'number' | 'boolean';

export interface OptionInfo {
  name: string;
  description: string;
  kind: OptionKind;
  required: boolean;
  choices?: string[];
  min?: number;
  max?: number;
  maxLength?: number;
  hints: OptionHints;
}

export function describeOptions(schema: z.ZodObject | undefined): OptionInfo[] {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const zodField = field as z.ZodType;
    let inner: z.ZodType = zodField;
    let required = true;
    while (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault || inner instanceof z.ZodNullable) {
      required = false;
      inner = inner.unwrap() as z.ZodType;
    }
    const info: OptionInfo = {
      name,
      description: zodField.description ?? inner.description ?? name,
      kind: 'string',
      required,
      hints: optionHints(zodField),
    };
    if (inner instanceof z.ZodNumber) {
      info.kind = inner.format === 'safeint' || inner.isInt ? 'integer' : 'number';
      if (Number.isFinite(inner.minValue)) info.min = inner.minValue ?? undefined;
      if (Number.isFinite(inner.maxValue)) info.max = inner.maxValue ?? undefined;
    } else if (inner instanceof z.ZodBoolean) {
      info.kind = 'boolean';
    } else if (inner instanceof z.ZodEnum) {
      info.choices = inner.options.map(String);
    } else if (inner instanceof z.ZodString) {
      if (inner.maxLength !== null) info.maxLength = inner.maxLength;
    }
    return info;
  });
}

/** Finds the definition a name (and subcommand) refers to. */
export function findCommand(
  commands: readonly CommandDefinition[],
  name: string,
  subcommand?: string,
): { command: CommandDefinition; sub?: Subcommand; subName?: string } | undefined {
  const command = commands.find((c) => c.name === name);
  if (!command) return undefined;
  if (!command.subcommands) return { command };
  const subName = subcommand ?? Object.keys(command.subcommands)[0];
  const sub = subName ? command.subcommands[subName] : undefined;
  return sub ? { command, sub, subName } : undefined;
}

function zodProblems(error: z.ZodError, given: Record<string, unknown>): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? `\`${issue.path.join('.')}\`` : 'options';
      // zod 4 leaves `issue.input` out unless asked, so look at what was given.
      const missing = issue.path.length === 1 && given[String(issue.path[0])] === undefined;
      if (issue.code === 'invalid_type' && missing) return `${field} is required`;
      if (issue.code === 'unrecognized_keys') return `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `\`${k}\``).join(', ')}`;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

export function usageOf(command: CommandDefinition, subName?: string): string {
  const sub = subName ? command.subcommands?.[subName] : undefined;
  const options = describeOptions(sub ? sub.options : command.options);
  // A file option is attached, never typed: typed usage leaves it out.
  const parts = options.filter((o) => !o.hints.attachment).map((o) => (o.required ? `<${o.name}>` : `[${o.name}]`));
  return ['/' + command.name, subName, ...parts].filter(Boolean).join(' ');
}

/**
 * Runs one command: admin check, option validation, execution, and the single
 * error boundary. Never throws.
 */
export async function runCommand(
  core: Core,
  command: CommandDefinition,
  subName: string | undefined,
  rawOptions: Record<string, unknown>,
  invocation: Invocation,
): Promise<void> {
  const logger = core.logger.child({
    platform: invocation.platform,
    channel: invocation.channelId,
    user: invocation.user.id,
    command: subName ? `${command.name} ${subName}` : command.name,
  });
  const reply = async (text: string, options?: { ephemeral?: boolean }) => {
    await invocation.reply(text, options);
  };
  try {
    const sub = command.subcommands
      ? subName
        ? command.subcommands[subName]
        : undefined
      : undefined;
    if (command.subcommands && !sub) {
      const names = Object.keys(command.subcommands).join(', ');
      throw new UserFacingError(
        'bad-input',
        subName ? `\`/${command.name}\` has no \`${subName}\`; use one of: ${names}.` : `\`/${command.name}\` needs one of: ${names}.`,
      );
    }
    if (core.draining) throw restartingError();
    const target = sub ?? command;
    if (!target.execute) throw new UserFacingError('bad-input', `\`/${command.name}\` cannot be run on its own.`);
    // Asked only when needed (an admin command, or a command that asks): the lookup can be a platform round trip.
    let adminCheck: Promise<boolean> | undefined;
    const isAdmin = () => (adminCheck ??= core.isAdmin(invocation));
    if (target.admin && !(await isAdmin())) {
      throw new UserFacingError(
        'not-admin',
        `Only admins can use \`${usageOf(command, subName).split(' <')[0]!.split(' [')[0]}\` (server managers, or users listed in ADMIN_USER_IDS).`,
      );
    }
    const schema = (target.options ?? z.object({})).strict();
    const given = dropUndefined(rawOptions);
    const parsed = schema.safeParse(given);
    if (!parsed.success) {
      throw new UserFacingError('bad-input', `${zodProblems(parsed.error, given)}. Usage: \`${usageOf(command, subName)}\``);
    }
    await target.execute({ options: parsed.data, invocation, core, isAdmin, logger, reply });
  } catch (error) {
    await replyToFailure(logger, invocation, error);
  }
}

/**
 * The one error boundary: an expected refusal (UserFacingError) is told to the
 * person as it is; anything else is logged once with an id and answered with
 * a short message naming that id. Never throws.
 */
export async function replyToFailure(
  logger: Logger,
  to: { reply(text: string, options?: { ephemeral?: boolean }): Promise<void>; privateReplies?: boolean },
  error: unknown,
): Promise<void> {
  let text: string;
  if (error instanceof UserFacingError) {
    logger.info({ code: error.code }, 'request refused: %s', error.message);
    // Where a reply is not private (a reply to a channel message), only the public wording is said.
    text = to.privateReplies === false ? error.publicMessage : error.message;
  } else {
    const errorId = newErrorId();
    logger.error({ err: error, errorId }, 'request failed');
    text = genericErrorMessage(errorId);
  }
  try {
    await to.reply(text, { ephemeral: true });
  } catch (replyError) {
    logger.warn({ err: replyError }, 'could not deliver a reply');
  }
}

function dropUndefined(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined && v !== null));
}
