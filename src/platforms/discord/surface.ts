/**
 * Where a Discord answer streams: the reply to an interaction (while its
 * 15-minute token lasts) or channel messages sent with the bot token. The
 * renderer drives it; this class only knows how to post and edit on Discord
 * and turns Discord's errors into the core's (rate limit, message gone).
 */
import { ButtonStyle, ComponentType, MessageFlags, Routes, type RawFile, type REST } from 'discord.js';
import { formatAnswerText, oneLine, type AnswerSource, type MessageView } from '../../core/answer-view.ts';
import type { Logger } from '../../log.ts';
import {
  MessageGoneError,
  type Clock,
  type MessageAction,
  type MessageSurface,
  type PostedMessage,
  type PostOptions,
} from '../../core/types.ts';
import {
  describeDiscordError,
  isGone,
  isMissingPermissions,
  isNotEditable,
  isOldMessageEditLimit,
  isTokenExpired,
  isUploadRefused,
} from './discord-errors.ts';
import { budgetKeyFor, CHANNEL_RATE_LIMIT, MAX_MESSAGE_LENGTH, NO_MENTIONS } from './limits.ts';
import { toPlatformError } from './rate-limit.ts';

export { budgetKeyFor, CHANNEL_RATE_LIMIT, MAX_MESSAGE_LENGTH, NO_MENTIONS } from './limits.ts';

/** Interaction tokens last 15 minutes; switch to the bot token a minute early. */
export const INTERACTION_TOKEN_MS = 15 * 60_000;
/** What a message Discord stopped letting us edit says once its answer moved to a reply. */
export const CONTINUED_BELOW = '↪ The answer continues in the reply below.';
const TOKEN_MARGIN_MS = 60_000;

/** PostedMessage.ref on Discord: the bot token can edit the message through the channel route. */
export function messageRef(channelId: string, messageId: string): string {
  return JSON.stringify({ channelId, messageId });
}

/** Button custom ids: `sb:<action>:<requestId>`. */
export function buttonId(action: MessageAction['id'], requestId: string): string {
  return `sb:${action}:${requestId}`;
}

/** A button id of ours: its action (one this version may not know) and the answer it belongs to. */
export function parseButtonId(customId: string): { action: string; requestId: string } | undefined {
  const match = /^sb:([a-z-]{1,20}):(.{1,90})$/.exec(customId);
  return match ? { action: match[1]!, requestId: match[2]! } : undefined;
}

export function buttonRow(actions: readonly MessageAction[], requestId: string): unknown[] {
  if (actions.length === 0) return [];
  return [
    {
      type: ComponentType.ActionRow,
      components: actions.map((action) => ({
        type: ComponentType.Button,
        style: action.id === 'stop' || action.id === 'deny' ? ButtonStyle.Danger : action.id === 'allow' ? ButtonStyle.Success : ButtonStyle.Secondary,
        label: action.label,
        custom_id: buttonId(action.id, requestId),
      })),
    },
  ];
}

export interface InteractionTarget {
  applicationId: string;
  token: string;
  /** Core-clock time the interaction arrived (the token's lifetime starts then). */
  receivedAt: number;
}

export interface DiscordSurfaceOptions {
  rest: REST;
  channelId: string;
  requestId: string;
  clock: Clock;
  logger: Logger;
  /** Stream into this interaction's (deferred) reply while its token lasts. */
  interaction?: InteractionTarget;
  /** The interaction's original response is not ours to fill (a button press acknowledged as an update): post follow-ups. */
  originalTaken?: boolean;
  /** Channel mode: the first message replies to this one. */
  replyTo?: string;
  /** Add a Retry button to the finished answer (default true). */
  retryButton?: boolean;
  /** Only the asker sees the answer (`/ask private`): follow-ups are ephemeral too. Implies interactionOnly. */
  ephemeral?: boolean;
  /**
   * Answer through the interaction only: the bot cannot post in this channel
   * (a private channel where only the user installed the app), so when the
   * token runs out the answer ends instead of continuing as channel messages.
   */
  interactionOnly?: boolean;
  /** Told about every message posted (the adapter watches them for deletion). */
  onPosted?: (messageId: string) => void;
  /** Runs clean-up writes later, in their own budget slot (default: at once). */
  later?: (work: () => Promise<void>) => void;
}

interface RawMessage {
  id: string;
}

export class DiscordAnswerSurface implements MessageSurface {
  readonly maxMessageLength = MAX_MESSAGE_LENGTH;
  readonly rateLimit = CHANNEL_RATE_LIMIT;
  readonly budgetKey: string;
  /** Set when Discord refused for missing permissions; the adapter tells the user. */
  permissionProblem = false;
  /** Every message this surface posted, in order (replacements included). */
  readonly postedIds: string[] = [];

  readonly #rest: REST;
  readonly #channelId: string;
  readonly #requestId: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #interaction: InteractionTarget | undefined;
  readonly #retryButton: boolean;
  readonly #ephemeral: boolean;
  readonly #interactionOnly: boolean;
  readonly #onPosted: ((messageId: string) => void) | undefined;
  readonly #later: ((work: () => Promise<void>) => void) | undefined;
  #replyTo: string | undefined;
  #originalUsed = false;
  #tokenDead = false;
  /** Messages posted with the bot token (edited through the channel). */
  readonly #channelMessages = new Set<string>();
  /** Messages that had to be replaced by a new one (old id -> new id). */
  readonly #replaced = new Map<string, string>();
  /** The answer text each message last showed (for a message left behind). */
  readonly #bodies = new Map<string, string>();

  constructor(options: DiscordSurfaceOptions) {
    this.#rest = options.rest;
    this.#channelId = options.channelId;
    this.#requestId = options.requestId;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#interaction = options.interaction;
    this.#originalUsed = options.originalTaken ?? false;
    this.#replyTo = options.replyTo;
    this.#retryButton = options.retryButton ?? true;
    this.#ephemeral = options.ephemeral ?? false;
    this.#interactionOnly = this.#ephemeral || (options.interactionOnly ?? false);
    this.#onPosted = options.onPosted;
    this.#later = options.later;
    this.budgetKey = budgetKeyFor(options.channelId);
  }

  /** Discord shows the plain-text form: body, cursor or placeholder, status, sources, end line, footer. */
  format(view: MessageView): string {
    return formatAnswerText(view, undefined, discordSourceLine);
  }

  /** Whether the answer continued with the bot token because the interaction token ran out. */
  get switchedToBotToken(): boolean {
    return this.#interaction !== undefined && this.#tokenDead;
  }

  async post(text: string, options?: PostOptions): Promise<PostedMessage> {
    return this.#withoutRefusedFiles(text, options, (t, o) => this.#post(t, o));
  }

  async #post(text: string, options?: PostOptions): Promise<PostedMessage> {
    const interaction = this.#usableInteraction();
    if (interaction) {
      const body = this.#body(text, options);
      try {
        const message = this.#originalUsed
          ? await this.#rest.post(Routes.webhook(interaction.applicationId, interaction.token), {
              body: this.#ephemeral ? { ...body, flags: MessageFlags.Ephemeral } : body,
              files: answerFiles(options),
              auth: false,
              query: new URLSearchParams({ wait: 'true' }),
            })
          : await this.#rest.patch(Routes.webhookMessage(interaction.applicationId, interaction.token), { body, files: answerFiles(options), auth: false });
        this.#originalUsed = true;
        return this.#posted((message as RawMessage).id, options);
      } catch (error) {
        if (!isTokenExpired(error)) throw this.#translate(error);
        this.#expire(error);
      }
    }
    return this.#posted(await this.#postToChannel(text, options), options);
  }

  async edit(messageId: string, text: string, options?: PostOptions): Promise<void> {
    await this.#withoutRefusedFiles(text, options, (t, o) => this.#edit(messageId, t, o));
    if (options?.view) this.#bodies.set(this.#current(messageId), options.view.body);
  }

  async #edit(messageId: string, text: string, options?: PostOptions): Promise<void> {
    const id = this.#current(messageId);
    const body = this.#body(text, options);
    if (this.#channelMessages.has(id)) {
      try {
        await this.#rest.patch(Routes.channelMessage(this.#channelId, id), { body, files: answerFiles(options) });
      } catch (error) {
        if (!isOldMessageEditLimit(error)) throw this.#translate(error);
        await this.#replace(messageId, text, options, error);
      }
      return;
    }
    const interaction = this.#usableInteraction();
    if (interaction) {
      try {
        await this.#rest.patch(Routes.webhookMessage(interaction.applicationId, interaction.token, id), { body, files: answerFiles(options), auth: false });
        return;
      } catch (error) {
        if (isOldMessageEditLimit(error)) {
          await this.#replace(messageId, text, options, error);
          return;
        }
        if (!isTokenExpired(error)) throw this.#translate(error);
        this.#expire(error);
      }
    }
    if (this.#interactionOnly) throw new MessageGoneError('the interaction token ran out and the bot cannot write here');
    // The interaction's token is gone: the bot wrote this message, so try the channel route.
    try {
      await this.#rest.patch(Routes.channelMessage(this.#channelId, id), { body, files: answerFiles(options) });
      this.#channelMessages.add(id);
    } catch (error) {
      if (!isNotEditable(error) && !isOldMessageEditLimit(error)) throw this.#translate(error);
      await this.#replace(messageId, text, options, error);
    }
  }

  /**
   * A message Discord refuses because of its pictures (no Attach Files
   * permission in the channel, too large) goes again without them, with a
   * note saying why: the answer itself must not be lost to its attachments.
   */
  async #withoutRefusedFiles<T>(text: string, options: PostOptions | undefined, send: (text: string, options: PostOptions | undefined) => Promise<T>): Promise<T> {
    try {
      return await send(text, options);
    } catch (error) {
      const view = options?.view;
      if (!view?.images || !answerFiles(options) || !isUploadRefused(error)) throw error;
      this.#logger.warn({ reason: describeDiscordError((error as { cause?: unknown }).cause ?? error), files: view.images.files.length }, 'Discord refused the pictures; sending the answer without them');
      this.permissionProblem = false;
      const why = isMissingPermissions((error as { cause?: unknown }).cause ?? error) ? 'the bot lacks the Attach Files permission in this channel' : 'Discord refused the upload';
      const images = { files: [], problems: [...view.images.problems, `The picture${view.images.files.length === 1 ? '' : 's'} could not be attached: ${why}.`] };
      const bare = { ...view, images };
      return send(this.format(bare), { ...options, view: bare });
    }
  }

  #current(messageId: string): string {
    let id = messageId;
    for (let seen = 0; this.#replaced.has(id) && seen < 100; seen++) id = this.#replaced.get(id)!;
    return id;
  }

  #usableInteraction(): InteractionTarget | undefined {
    const interaction = this.#interaction;
    if (!interaction || this.#tokenDead) return undefined;
    if (this.#clock.now() >= interaction.receivedAt + INTERACTION_TOKEN_MS - TOKEN_MARGIN_MS) {
      this.#expire(undefined);
      return undefined;
    }
    return interaction;
  }

  #expire(error: unknown): void {
    if (this.#tokenDead) return;
    this.#tokenDead = true;
    this.#logger.info(
      { reason: error === undefined ? 'token about to expire' : describeDiscordError(error) },
      'interaction token no longer usable; continuing with channel messages',
    );
    // Later pieces continue the reply chain from the last message shown.
    this.#replyTo = this.postedIds.at(-1) ?? this.#replyTo;
  }

  async #postToChannel(text: string, options: PostOptions | undefined): Promise<string> {
    if (this.#interactionOnly) throw new MessageGoneError('the interaction token ran out and the bot cannot write here');
    const body: Record<string, unknown> = this.#body(text, options);
    if (this.#replyTo) body.message_reference = { message_id: this.#replyTo, fail_if_not_exists: false };
    try {
      const message = (await this.#rest.post(Routes.channelMessages(this.#channelId), { body, files: answerFiles(options) })) as RawMessage;
      this.#channelMessages.add(message.id);
      return message.id;
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** Posts the text as a new message in place of one that can no longer be edited. */
  async #replace(messageId: string, text: string, options: PostOptions | undefined, cause: unknown): Promise<void> {
    this.#logger.info({ messageId, reason: describeDiscordError(cause) }, 'message cannot be edited any more; posting a new one');
    const stuck = this.#current(messageId);
    this.#replyTo = stuck;
    const id = await this.#postToChannel(text, options);
    this.#replaced.set(stuck, id);
    this.postedIds.push(id);
    this.#onPosted?.(id);
    const leave = () => this.#leaveStuck(stuck);
    if (this.#later) this.#later(leave);
    else await leave();
  }

  /**
   * The message Discord stopped letting us edit must not keep a cursor and a
   * Stop button as if the answer were still coming: it gets its text so far and
   * a pointer to the reply that continues it, or, when that edit is refused
   * too, it is deleted. Best effort: the answer itself is already in the reply.
   */
  async #leaveStuck(stuck: string): Promise<void> {
    const shown = this.#bodies.get(stuck) ?? '';
    const body = shown.trim() === '' ? '' : `${formatAnswerText({ body: shown, streaming: false, status: null, footer: null, endLine: null, final: false })}\n\n`;
    const content = `${body}${CONTINUED_BELOW}`.slice(-MAX_MESSAGE_LENGTH);
    const update = { body: { content, components: [], allowed_mentions: NO_MENTIONS } };
    const interaction = this.#channelMessages.has(stuck) ? undefined : this.#usableInteraction();
    try {
      if (interaction) await this.#rest.patch(Routes.webhookMessage(interaction.applicationId, interaction.token, stuck), { ...update, auth: false });
      else await this.#rest.patch(Routes.channelMessage(this.#channelId, stuck), update);
      return;
    } catch (error) {
      this.#logger.info({ messageId: stuck, reason: describeDiscordError(error) }, 'the stuck message refuses edits; deleting it');
    }
    try {
      if (interaction) await this.#rest.delete(Routes.webhookMessage(interaction.applicationId, interaction.token, stuck), { auth: false });
      else await this.#rest.delete(Routes.channelMessage(this.#channelId, stuck));
    } catch (error) {
      this.#logger.warn({ messageId: stuck, reason: describeDiscordError(error) }, 'could not delete the stuck message');
    }
  }

  #posted(id: string, options?: PostOptions): PostedMessage {
    if (options?.view) this.#bodies.set(id, options.view.body);
    this.postedIds.push(id);
    this.#replyTo = id;
    this.#onPosted?.(id);
    return { id, ref: messageRef(this.#channelId, id) };
  }

  #body(text: string, options: PostOptions | undefined): Record<string, unknown> {
    const body: Record<string, unknown> = { content: text, allowed_mentions: NO_MENTIONS };
    // The finished answer's last message (the one with the footer) gets Retry; otherwise the renderer's buttons.
    const finished = options?.view?.final === true && options.view.footer !== null;
    if (finished && this.#retryButton) body.components = buttonRow([{ id: 'retry', label: 'Retry' }], this.#requestId);
    else if (options?.actions !== undefined || finished) body.components = buttonRow(options?.actions ?? [], this.#requestId);
    // Pictures go up as this message's attachments (files[n] beside payload_json); an edit lists them to keep them.
    const files = answerFiles(options);
    if (files) body.attachments = files.map((file, id) => ({ id, filename: file.name }));
    return body;
  }

  #translate(error: unknown): unknown {
    if (isGone(error)) return new MessageGoneError('the answer message was deleted', { cause: error });
    if (isMissingPermissions(error)) {
      this.permissionProblem = true;
      return new MessageGoneError('missing permissions in the channel', { cause: error });
    }
    return toPlatformError(error);
  }
}

/**
 * The final message's pictures as multipart files (discord.js sends them as
 * `files[n]` with the body as `payload_json`); undefined for every other
 * message. The core keeps at most 10 (Discord's per-message limit) of at
 * most 8 MiB each (under the 10 MB a bot may upload to an unboosted server).
 */
function answerFiles(options: PostOptions | undefined): RawFile[] | undefined {
  const files = options?.view?.final ? options.view.images?.files : undefined;
  if (!files || files.length === 0) return undefined;
  return files.map((file) => ({ name: file.filename, data: file.data, contentType: file.mime }));
}

/**
 * "[1] Title <https://…>": the angle brackets keep Discord from unfolding an
 * embed per source. Markdown in a title is escaped; a URL cannot close the brackets.
 */
export function discordSourceLine(source: AnswerSource): string {
  const title = oneLine(source.title).replace(/[\\*_~`|<>[\]]/g, (c) => `\\${c}`);
  const url = source.url.replace(/[\s<>]/g, encodeURIComponent);
  return `[${source.n}] ${title} <${url}>`;
}
