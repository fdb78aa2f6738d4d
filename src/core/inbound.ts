/**
 * One path in. Adapters turn platform events into these platform-neutral
 * events and hand them to InboundRouter.handle, which does, once for every
 * platform: ignoring bots, de-duplication, the turn gate, the shutdown check,
 * the conversation key, routing (a message addressed to the bot runs the
 * command that answers messages, through the same definition as /ask), button
 * presses (Stop, Retry, with their permission checks) and the error boundary.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { MessagePart } from '../llm/types.ts';
import type { InboundAttachment } from './attachments.ts';
import { findCommand, replyToFailure, runCommand, type CommandDefinition, type CommandUser, type Invocation } from './commands.ts';
import type { HistoryMessage } from './conversation.ts';
import { conversationKey, type ConversationRef } from './conversation-key.ts';
import type { Core } from './core.ts';
import { restartingError, UserFacingError } from './errors.ts';
import { isFeedbackAction, recordFeedback } from './feedback.ts';
import { askerOf, stopAnywhere } from './remote-stop.ts';
import type { RoleLookup } from './roles.ts';
import { DM_WORKSPACE, type Place } from './settings.ts';
import type { MessageSurface } from './types.ts';
import { BoundedMap } from '../util/bounded-map.ts';

/** Platform event ids are claimed for this long (Slack re-delivers for minutes; commands within 5). */
const CLAIM_TTL_MS = 60 * 60 * 1000;
/** Questions remembered for Retry. */
const RETRY_CAPACITY = 2000;

export interface InboundUser extends CommandUser {
  /** A bot or app (the bot itself included): its messages are never answered. */
  isBot?: boolean;
}

/**
 * What the adapter offers for one event: how to reply to the person, where an
 * answer goes, and what the conversation was so far.
 */
export interface InboundPort extends RoleLookup {
  /** Replies to the person who triggered the event; private where the platform can. */
  reply(text: string, options?: { ephemeral?: boolean }): Promise<void>;
  /**
   * False where even an ephemeral reply is seen by others (Discord has no
   * private reply to a channel message): refusals then leave out amounts.
   */
  privateReplies?: boolean;
  /** Where an answer to this event streams (the request id goes into button ids). */
  answerSurface?(requestId: string): Promise<MessageSurface>;
  /** The conversation so far, oldest first (read only once the cheap checks passed). */
  history?(): Promise<HistoryMessage[]>;
  /** The platform's own notion of an admin (Manage Server, workspace admin). */
  isPlatformAdmin(): Promise<boolean>;
  /** Resolves a user mention or id to a known user. */
  lookupUser?(ref: string): Promise<CommandUser | undefined>;
  /** Told when an answer is complete (the terminal keeps its own history), with a parsed PDF's annotations. */
  onAnswer?(prompt: string, answer: string, annotations?: unknown[]): void;
  /** Told when the answer to this event is over, shown or not (adapters clean up their per-answer state). */
  onSettled?(requestId: string): void | Promise<void>;
}

interface InboundBase {
  place: Place;
  user: InboundUser;
  /** Platform ids of this delivery (event id, message id, trigger id): the first process to claim them handles it. */
  dedupeKeys?: string[];
  port: InboundPort;
  signal?: AbortSignal;
  /** Files attached to the message or the command (checked and downloaded by the core, src/core/attachments.ts). */
  attachments?: InboundAttachment[];
}

/** A message addressed to the bot: a mention, a DM, a reply to an answer, a message in an answer thread. */
export interface InboundMessage extends InboundBase {
  kind: 'message';
  parts: MessagePart[];
  /** Where the message sits: its thread or reply chain root, if any. */
  conversation: ConversationRef;
}

/** A command invocation (a slash command, a terminal line). */
export interface InboundCommand extends InboundBase {
  kind: 'command';
  name: string;
  subcommand?: string;
  options: Record<string, unknown>;
  conversation: ConversationRef;
}

/** A button under an answer. */
export interface InboundAction extends InboundBase {
  kind: 'action';
  action: string;
  /** The answer the button belongs to. */
  requestId: string;
}

export type InboundEvent = InboundMessage | InboundCommand | InboundAction;

/** What Retry needs to run the same question again. */
interface AskedQuestion {
  command: CommandDefinition;
  options: Record<string, unknown>;
  place: Place;
  conversation: ConversationRef;
  userId: string;
  history?: () => Promise<HistoryMessage[]>;
  attachments?: InboundAttachment[];
}

/** Direct messages are off unless ALLOW_DMS=true. */
function dmsOffError(): UserFacingError {
  return new UserFacingError('not-allowed', 'Direct messages to this bot are turned off. Ask in a channel where the bot is: mention it or use `/ask`.');
}

/**
 * A DM belongs to no server: every DM on a platform shares one pseudo-workspace
 * (limits, the DM cap, /usage top for the bot's admins), whatever team or
 * server the person came from.
 */
function normalizeDm(event: InboundEvent): InboundEvent {
  if (!event.place.isDm || event.place.workspaceId === DM_WORKSPACE) return event;
  const place = { ...event.place, workspaceId: DM_WORKSPACE };
  if (event.kind === 'action') return { ...event, place };
  return { ...event, place, conversation: { ...event.conversation, workspaceId: DM_WORKSPACE } };
}

export class InboundRouter {
  readonly #asked = new BoundedMap<AskedQuestion>(RETRY_CAPACITY);

  constructor(private readonly core: Core) {}

  /** Handles one event from any platform. Never throws: failures are logged and answered once. */
  async handle(received: InboundEvent): Promise<void> {
    const { core } = this;
    if (received.user.isBot) return;
    const event = normalizeDm(received);
    const logger = core.logger.child({ platform: event.place.platform, channel: event.place.channelId, user: event.user.id });
    try {
      // Platforms have acknowledged the event by now; in a burst, its work waits its turn.
      await core.turns.turn();
      if (!(await this.#claim(event, logger))) return;
      if (event.kind === 'action') {
        await this.#action(event, logger);
        return;
      }
      if (core.draining) throw restartingError();
      if (event.place.isDm && !core.config.allowDms) throw dmsOffError();
      if (event.kind === 'message') await this.#message(event);
      else await this.#command(event);
    } catch (error) {
      // runCommand has its own boundary; this catches the router's own refusals and failures.
      await replyToFailure(logger, event.port, error);
    }
  }

  async #claim(event: InboundEvent, logger: Logger): Promise<boolean> {
    const keys = event.dedupeKeys ?? [];
    if (keys.length === 0) return true;
    if (await this.core.store.claimEvents(keys, new Date(this.core.clock.now()), CLAIM_TTL_MS)) return true;
    logger.debug({ keys }, 'duplicate event ignored');
    return false;
  }

  async #message(event: InboundMessage): Promise<void> {
    const command = this.core.commands.find((c) => c.answersMessages === true);
    const promptOption = command?.streamsAnswer?.promptOption;
    if (!command || !promptOption) return;
    const text = event.parts.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('\n');
    await this.#run(event, command, undefined, { [promptOption]: text }, event.conversation, event.parts);
  }

  async #command(event: InboundCommand): Promise<void> {
    const found = findCommand(this.core.commands, event.name, event.subcommand);
    if (!found) {
      await event.port.reply(`I don't know \`/${event.name}${event.subcommand ? ` ${event.subcommand}` : ''}\`.`, { ephemeral: true });
      return;
    }
    await this.#run(event, found.command, event.subcommand ?? found.subName, event.options, event.conversation);
  }

  async #run(
    event: InboundMessage | InboundCommand,
    command: CommandDefinition,
    subName: string | undefined,
    options: Record<string, unknown>,
    conversation: ConversationRef,
    parts?: MessagePart[],
  ): Promise<void> {
    const requestId = command.streamsAnswer ? randomUUID() : undefined;
    if (requestId && command.streamsAnswer) {
      this.#asked.set(requestId, {
        command,
        options,
        place: event.place,
        conversation,
        userId: event.user.id,
        history: event.port.history?.bind(event.port),
        ...(event.attachments ? { attachments: event.attachments } : {}),
      });
    }
    const invocation = this.#invocation(event, conversation, requestId, parts);
    try {
      await runCommand(this.core, command, subName, options, invocation);
    } finally {
      if (requestId) await event.port.onSettled?.(requestId);
    }
  }

  #invocation(event: InboundBase, conversation: ConversationRef, requestId: string | undefined, parts?: MessagePart[]): Invocation {
    const { port } = event;
    return {
      ...event.place,
      user: { id: event.user.id, name: event.user.name },
      conversation,
      conversationKey: conversationKey(conversation),
      requestId,
      parts,
      ...(event.attachments && event.attachments.length > 0 ? { attachments: event.attachments } : {}),
      signal: event.signal,
      ...(port.privateReplies === false ? { privateReplies: false } : {}),
      isPlatformAdmin: () => port.isPlatformAdmin(),
      reply: (text, options) => port.reply(text, options),
      answerSurface: () => {
        if (!port.answerSurface || !requestId) return Promise.reject(new Error('this command does not stream an answer'));
        return port.answerSurface(requestId);
      },
      ...(port.history ? { history: () => port.history!() } : {}),
      ...(port.lookupUser ? { lookupUser: (ref: string) => port.lookupUser!(ref) } : {}),
      ...(port.rolesOf ? { rolesOf: (userId: string) => port.rolesOf!(userId) } : {}),
      ...(port.findRole ? { findRole: (ref: string) => port.findRole!(ref) } : {}),
      ...(port.roleWords ? { roleWords: port.roleWords } : {}),
      ...(port.onAnswer ? { onAnswer: (prompt: string, answer: string, annotations?: unknown[]) => port.onAnswer!(prompt, answer, annotations) } : {}),
    };
  }

  /** Stop and Retry: only the asker or an admin. */
  async #action(event: InboundAction, logger: Logger): Promise<void> {
    const { core } = this;
    const say = (text: string) => event.port.reply(text, { ephemeral: true });
    const mayAct = async (ownerId: string) =>
      ownerId === event.user.id ||
      (await core.isAdmin({ platform: event.place.platform, user: event.user, isDm: event.place.isDm, isPlatformAdmin: () => event.port.isPlatformAdmin() }));

    if (event.action === 'stop') {
      // The answer may stream in another process: the store knows its asker.
      const owner = await askerOf(core, event.place, event.requestId);
      if (owner === undefined) {
        await say('This answer has already finished.');
        return;
      }
      if (!(await mayAct(owner))) {
        logger.info({ requestId: event.requestId }, 'stop refused: not the asker or an admin');
        await say('Only the person who asked, or an admin, can stop this answer.');
        return;
      }
      const stopped = await stopAnywhere(core, { platform: event.place.platform, workspaceId: event.place.workspaceId, requestId: event.requestId }, event.user.name);
      logger.info({ requestId: event.requestId, stopped }, 'stop button pressed');
      return;
    }
    if (event.action === 'retry') {
      const asked = this.#asked.get(event.requestId);
      if (!asked) {
        await say("I no longer have that question (the bot restarted since); ask again.");
        return;
      }
      if (!(await mayAct(asked.userId))) {
        logger.info({ requestId: event.requestId }, 'retry refused: not the asker or an admin');
        await say('Only the person who asked, or an admin, can retry this answer.');
        return;
      }
      if (core.draining) throw restartingError();
      const port: InboundPort = { ...event.port, ...(asked.history ? { history: asked.history } : {}) };
      await this.#run(
        { ...event, kind: 'command', name: asked.command.name, options: asked.options, conversation: asked.conversation, place: asked.place, port, attachments: asked.attachments },
        asked.command,
        undefined,
        asked.options,
        asked.conversation,
      );
      return;
    }
    if (event.action === 'allow' || event.action === 'deny') {
      const result = core.approvals.press(event.requestId, event.user.id, event.action);
      logger.info({ requestId: event.requestId, action: event.action, result }, 'tool approval pressed');
      if (result === 'not-asker') await say('Only the person who asked can allow or deny this tool call.');
      else if (result === 'not-waiting') {
        const running = (await askerOf(core, event.place, event.requestId)) !== undefined && core.pipeline.ownerOf(event.requestId) === undefined;
        await say(
          running
            ? 'This answer is being written by another process of the bot, which this press cannot reach; the tool call counts as refused after 2 minutes. Ask again if you need it.'
            : 'This tool call is no longer waiting for an answer.',
        );
      }
      return;
    }
    if (isFeedbackAction(event.action)) {
      await recordFeedback(core, event);
      return;
    }
    logger.info({ action: event.action }, 'unknown button pressed');
    await say('This button no longer works.');
  }
}
