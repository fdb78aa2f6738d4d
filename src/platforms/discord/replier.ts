/**
 * Replies to an acknowledged interaction: the deferred reply first (deleted
 * and replaced by an ephemeral follow-up when an ephemeral reply follows a
 * public deferral), then follow-ups.
 */
import { MessageFlags, type RepliableInteraction } from 'discord.js';
import { splitMessage } from '../../core/split.ts';
import type { DiscordContext } from './context.ts';
import { MAX_MESSAGE_LENGTH, NO_MENTIONS } from './limits.ts';
import { budgeted, retryingRateLimits } from './rate-limit.ts';

export class InteractionReplier {
  #originalUsed = false;

  constructor(
    private readonly ctx: DiscordContext,
    private readonly interaction: RepliableInteraction,
    private readonly deferredEphemeral: boolean,
    /** Whether someone else (the answer surface) already used the deferred reply. */
    private readonly originalTakenElsewhere: () => boolean = () => false,
  ) {}

  get originalUsed(): boolean {
    return this.#originalUsed || this.originalTakenElsewhere();
  }

  markOriginalUsed(): void {
    this.#originalUsed = true;
  }

  async reply(text: string, ephemeral: boolean): Promise<void> {
    for (const piece of splitMessage(text, MAX_MESSAGE_LENGTH)) await this.#one(piece, ephemeral);
  }

  async #one(content: string, ephemeral: boolean): Promise<void> {
    const { interaction } = this;
    if (!this.originalUsed) {
      this.#originalUsed = true;
      if (ephemeral === this.deferredEphemeral) {
        await this.#write(ephemeral, () => interaction.editReply({ content, allowedMentions: NO_MENTIONS }));
        return;
      }
      // A public "thinking…" cannot turn ephemeral: remove it and answer privately.
      await interaction.deleteReply().catch((error: unknown) => {
        this.ctx.logger.debug({ err: error }, 'could not delete the deferred reply');
      });
    }
    await this.#write(ephemeral, () =>
      interaction.followUp({ content, allowedMentions: NO_MENTIONS, flags: ephemeral ? MessageFlags.Ephemeral : undefined }),
    );
  }

  /** Ephemeral messages are nobody else's business; public ones share the channel's budget. */
  async #write(ephemeral: boolean, fn: () => Promise<unknown>): Promise<void> {
    if (ephemeral) await retryingRateLimits(this.ctx.clock, fn);
    else await budgeted(this.ctx.host.budget, this.interaction.channelId ?? 'unknown', fn);
  }

  /** Leaves no "thinking…" behind when a command ended without replying. */
  async settle(): Promise<void> {
    if (this.originalUsed) return;
    this.#originalUsed = true;
    if (this.deferredEphemeral) await this.interaction.editReply({ content: 'Done.', allowedMentions: NO_MENTIONS });
    else await this.interaction.deleteReply();
  }
}
