/**
 * What the Discord listeners share: the client, the core, and a few helpers
 * for places, admins and budgeted writes.
 */
import { PermissionFlagsBits, type Client, type PermissionsBitField, type REST } from 'discord.js';
import type { HistoryMessage } from '../../core/conversation.ts';
import type { Core } from '../../core/core.ts';
import type { Place } from '../../core/settings.ts';
import { PlatformRateLimitError, type Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { isRateLimit } from './discord-errors.ts';
import { budgetKeyFor, CHANNEL_RATE_LIMIT, DiscordAnswerSurface, type InteractionTarget } from './surface.ts';

export const PLATFORM = 'discord';
/** Discord's own notation for "not in a guild"; every DM shares this workspace. */
export const DM_WORKSPACE = '@me';

/** What Retry needs to ask the same question again. */
export interface RetryRecord {
  prompt: string;
  model?: string;
  place: Place;
  conversationKey: string;
  history: () => Promise<HistoryMessage[]>;
}

/** A map that forgets its oldest entries beyond a capacity. */
export class BoundedMap<V> {
  readonly #entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }
}

/** Who asked what with /ask, by answer message id: interaction replies do not show the question. */
export interface AskedPrompt {
  prompt: string;
  userId: string;
  userName: string;
}

/** Messages of answers still streaming, so deleting one stops its answer at once. */
export class LiveAnswers {
  readonly #byMessage = new Map<string, { requestId: string; workspaceId: string }>();

  add(messageId: string, requestId: string, workspaceId: string): void {
    this.#byMessage.set(messageId, { requestId, workspaceId });
  }

  get(messageId: string): { requestId: string; workspaceId: string } | undefined {
    return this.#byMessage.get(messageId);
  }

  forget(messageIds: readonly string[]): void {
    for (const id of messageIds) this.#byMessage.delete(id);
  }
}

export interface DiscordContext {
  readonly client: Client;
  readonly rest: REST;
  readonly core: Core;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The questions behind recent answers, by request id, for Retry. */
  readonly retries: BoundedMap<RetryRecord>;
  /** The /ask questions behind answer messages, by message id, for reply chains. */
  readonly asked: BoundedMap<AskedPrompt>;
  readonly live: LiveAnswers;
  /** The bot's user id (known once connected). */
  botId(): string;
  applicationId(): string;
}

export function placeOf(channel: { id: string; isThread(): boolean; parentId?: string | null }, guildId: string | null): Place {
  const place: Place = { platform: PLATFORM, workspaceId: guildId ?? DM_WORKSPACE, channelId: channel.id };
  if (channel.isThread() && channel.parentId) place.parentChannelId = channel.parentId;
  return place;
}

export function conversationKey(id: string): string {
  return `${PLATFORM}:${id}`;
}

/** Manage Guild or Administrator (has() counts Administrator as every permission). */
export function isManager(permissions: Readonly<PermissionsBitField> | null | undefined): boolean {
  return permissions?.has(PermissionFlagsBits.ManageGuild) ?? false;
}

/**
 * Runs a public write in `channelId` inside the channel's shared budget (the
 * same one the renderer uses), waiting out rate limits.
 */
export async function budgeted<T>(ctx: DiscordContext, channelId: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.core.budget.run(budgetKeyFor(channelId), CHANNEL_RATE_LIMIT, async () => {
        try {
          return await fn();
        } catch (error) {
          if (isRateLimit(error)) throw new PlatformRateLimitError(Math.max(error.retryAfter, error.timeToReset, 0), { cause: error });
          throw error;
        }
      });
    } catch (error) {
      if (!(error instanceof PlatformRateLimitError) || attempt >= 5) throw error;
    }
  }
}

/** A surface for one answer, watched for deletion while it streams. */
export function answerSurface(
  ctx: DiscordContext,
  options: { channelId: string; requestId: string; workspaceId: string; interaction?: InteractionTarget; replyTo?: string },
): DiscordAnswerSurface {
  const { requestId, workspaceId } = options;
  return new DiscordAnswerSurface({
    rest: ctx.rest,
    clock: ctx.clock,
    logger: ctx.logger.child({ requestId }),
    channelId: options.channelId,
    requestId,
    interaction: options.interaction,
    replyTo: options.replyTo,
    onPosted: (messageId) => ctx.live.add(messageId, requestId, workspaceId),
  });
}
