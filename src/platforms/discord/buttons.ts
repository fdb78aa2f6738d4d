/**
 * Buttons under answers (`sb:<action>:<requestId>`): the core decides what a
 * press does and who may press; this file only acknowledges the way the
 * outcome needs (a private reply, a new answer, or a silent update).
 */
import { MessageFlags, type ButtonInteraction } from 'discord.js';
import type { InboundPort } from '../../core/inbound.ts';
import { truncate } from '../../util/text.ts';
import { acknowledgeOnce } from './acknowledge.ts';
import { placeOfInteraction } from './answer-thread.ts';
import { answerSurface, isManager, userOf, type DiscordContext } from './context.ts';
import { MAX_MESSAGE_LENGTH, NO_MENTIONS } from './limits.ts';
import { InteractionReplier } from './replier.ts';
import { discordRoles, roleIdsOf } from './roles.ts';
import { parseButtonId, type DiscordAnswerSurface } from './surface.ts';

/** Discord wants an acknowledgement within 3 s; if the core has not decided by then, the press is taken as an update. */
const ACK_FALLBACK_MS = 2000;

export async function handleButton(ctx: DiscordContext, interaction: ButtonInteraction): Promise<void> {
  const parsed = parseButtonId(interaction.customId);
  if (!parsed) {
    await interaction.reply({ content: 'This button no longer works.', flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
    return;
  }
  const responder = new ButtonResponder(ctx, interaction);
  try {
    await ctx.host.handle({
      kind: 'action',
      action: parsed.action,
      requestId: parsed.requestId,
      place: placeOfInteraction(interaction),
      user: userOf(interaction),
      port: responder.port(),
    });
  } finally {
    await responder.finish();
  }
}

/** Acknowledges a button press lazily: as a private reply, a public deferral for a new answer, or an update. */
class ButtonResponder {
  #ack: Promise<unknown> | undefined;
  #kind: 'reply' | 'deferred' | 'update' | undefined;
  #replier: InteractionReplier | undefined;
  #surface: DiscordAnswerSurface | undefined;
  readonly #receivedAt: number;
  readonly #fallback: NodeJS.Timeout;

  constructor(
    private readonly ctx: DiscordContext,
    private readonly interaction: ButtonInteraction,
  ) {
    this.#receivedAt = ctx.clock.now();
    this.#fallback = setTimeout(() => void this.#acknowledge('update').catch(() => undefined), ACK_FALLBACK_MS);
    this.#fallback.unref();
  }

  port(): InboundPort {
    return {
      reply: (text, options) => this.#reply(text, options?.ephemeral ?? true),
      answerSurface: (requestId) => this.#answerSurface(requestId),
      isPlatformAdmin: async () => isManager(this.interaction.memberPermissions),
      ...discordRoles(this.ctx.client, this.interaction.guildId, { id: this.interaction.user.id, roleIds: roleIdsOf(this.interaction.member) ?? [] }),
      onSettled: () => this.ctx.live.forget(this.#surface?.postedIds ?? []),
    };
  }

  #acknowledge(kind: 'reply' | 'deferred' | 'update', reply?: { content: string; ephemeral: boolean }): Promise<unknown> {
    if (this.#ack) return this.#ack;
    clearTimeout(this.#fallback);
    this.#kind = kind;
    const { interaction } = this;
    const logger = this.ctx.logger;
    if (kind === 'reply' && reply) {
      const flags = reply.ephemeral ? MessageFlags.Ephemeral : undefined;
      this.#ack = acknowledgeOnce(interaction, 'replied', () => interaction.reply({ content: reply.content, flags, allowedMentions: NO_MENTIONS }), { ephemeral: reply.ephemeral, logger });
    } else if (kind === 'deferred') {
      this.#ack = acknowledgeOnce(interaction, 'deferred', () => interaction.deferReply(), { ephemeral: false, logger });
      this.#replier = new InteractionReplier(this.ctx, interaction, false, () => (this.#surface?.postedIds.length ?? 0) > 0);
    } else {
      this.#ack = acknowledgeOnce(interaction, 'deferred', () => interaction.deferUpdate(), { ephemeral: false, logger });
    }
    return this.#ack;
  }

  async #reply(text: string, ephemeral: boolean): Promise<void> {
    const content = truncate(text, MAX_MESSAGE_LENGTH);
    if (!this.#ack) {
      await this.#acknowledge('reply', { content, ephemeral });
      return;
    }
    await this.#ack;
    if (this.#replier) await this.#replier.reply(text, ephemeral);
    else await this.interaction.followUp({ content, flags: ephemeral ? MessageFlags.Ephemeral : undefined, allowedMentions: NO_MENTIONS });
  }

  async #answerSurface(requestId: string): Promise<DiscordAnswerSurface> {
    await this.#acknowledge('deferred');
    const { interaction } = this;
    this.#surface = answerSurface(this.ctx, {
      place: placeOfInteraction(interaction),
      requestId,
      interaction: { applicationId: interaction.applicationId, token: interaction.token, receivedAt: this.#receivedAt },
      // Acknowledged as an update (the core took long): the original is the pressed message, so answer in follow-ups.
      originalTaken: this.#kind === 'update',
    });
    return this.#surface;
  }

  /** A press the core answered with nothing visible (Stop) is acknowledged as an update. */
  async finish(): Promise<void> {
    clearTimeout(this.#fallback);
    await this.#acknowledge('update');
    await this.#replier?.settle();
  }
}
