/**
 * What the Discord listeners share: the client, the core's AdapterHost, and a
 * few helpers for places, admins and answer surfaces.
 */
import { PermissionFlagsBits, type Client, type Interaction, type PermissionsBitField, type REST } from 'discord.js';
import type { CommandUser } from '../../core/commands.ts';
import type { HistoryMessage } from '../../core/conversation.ts';
import type { ConversationRef } from '../../core/conversation-key.ts';
import type { AdapterHost } from '../../core/host.ts';
import type { Place } from '../../core/settings.ts';
import type { Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { DM_WORKSPACE, PLATFORM } from './limits.ts';
import { budgeted } from './rate-limit.ts';
import { DiscordAnswerSurface, type InteractionTarget } from './surface.ts';

export { DM_WORKSPACE, PLATFORM } from './limits.ts';

/** Messages of answers still streaming, so deleting one stops its answer at once. */
export class LiveAnswers {
  readonly #byMessage = new Map<string, { requestId: string; place: Place }>();

  add(messageId: string, requestId: string, place: Place): void {
    this.#byMessage.set(messageId, { requestId, place });
  }

  get(messageId: string): { requestId: string; place: Place } | undefined {
    return this.#byMessage.get(messageId);
  }

  forget(messageIds: readonly string[]): void {
    for (const id of messageIds) this.#byMessage.delete(id);
  }
}

export interface DiscordContext {
  readonly client: Client;
  readonly rest: REST;
  readonly host: AdapterHost;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly live: LiveAnswers;
  /** The bot's user id (known once connected). */
  botId(): string;
  applicationId(): string;
  /** Registers the commands again (someone used one this version does not know). */
  reregister(reason: string): Promise<void>;
  /** Work that outlives the call that started it (idle() and stop() wait for it). */
  background(work: Promise<void>): void;
}

/** Where an event happened, and what an answer there continues. */
export interface Conversation {
  place: Place;
  conversation: ConversationRef;
  history?: () => Promise<HistoryMessage[]>;
}

export function placeOf(channel: { id: string; isThread(): boolean; parentId?: string | null }, guildId: string | null): Place {
  const place: Place = { platform: PLATFORM, workspaceId: guildId ?? DM_WORKSPACE, channelId: channel.id };
  if (guildId === null) place.isDm = true;
  if (channel.isThread() && channel.parentId) place.parentChannelId = channel.parentId;
  return place;
}

/** The conversation that is a whole channel (a thread, a DM), or `rootId`'s within it. */
export function conversationAt(place: Place, rootId?: string): ConversationRef {
  const ref: ConversationRef = { platform: PLATFORM, workspaceId: place.workspaceId, channelId: place.channelId };
  if (place.parentChannelId !== undefined) ref.parentChannelId = place.parentChannelId;
  if (rootId !== undefined) ref.rootId = rootId;
  return ref;
}

export function userOf(interaction: Interaction): CommandUser {
  const member = interaction.member;
  return { id: interaction.user.id, name: member && 'displayName' in member ? member.displayName : interaction.user.displayName };
}

/** Manage Guild or Administrator (has() counts Administrator as every permission). */
export function isManager(permissions: Readonly<PermissionsBitField> | null | undefined): boolean {
  return permissions?.has(PermissionFlagsBits.ManageGuild) ?? false;
}

/** A surface for one answer, watched for deletion while it streams. */
export function answerSurface(
  ctx: DiscordContext,
  options: {
    place: Place;
    requestId: string;
    interaction?: InteractionTarget;
    originalTaken?: boolean;
    replyTo?: string;
    retryButton?: boolean;
    ephemeral?: boolean;
    interactionOnly?: boolean;
  },
): DiscordAnswerSurface {
  const { requestId, place } = options;
  return new DiscordAnswerSurface({
    rest: ctx.rest,
    clock: ctx.clock,
    logger: ctx.logger.child({ requestId }),
    channelId: place.channelId,
    requestId,
    interaction: options.interaction,
    originalTaken: options.originalTaken,
    replyTo: options.replyTo,
    retryButton: options.retryButton,
    ephemeral: options.ephemeral,
    interactionOnly: options.interactionOnly,
    onPosted: (messageId) => ctx.live.add(messageId, requestId, place),
    // Clean-up writes (a stuck message) take their own turn in the channel's budget, after the call that found them.
    later: (work) => ctx.background(budgeted(ctx.host.budget, place.channelId, work).then(() => undefined)),
  });
}
