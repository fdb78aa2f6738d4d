/**
 * Acknowledging an interaction exactly once. discord.js sends a request again
 * when its answer is lost (its 15 s timeout, a reset connection, a 5xx from
 * Discord or from a proxy in between); when the first copy had landed,
 * Discord refuses the second with 40060 "already acknowledged". Discord
 * delivers an interaction to one shard, which one process serves, so that
 * refusal of our own acknowledgement means the acknowledgement is done: the
 * interaction is recorded as acknowledged, as discord.js would have, and the
 * answer goes on instead of being lost.
 */
import { DiscordAPIError, RESTJSONErrorCodes, type RepliableInteraction } from 'discord.js';
import type { Logger } from '../../log.ts';

/** Discord says this interaction was acknowledged already. */
export function isAlreadyAcknowledged(error: unknown): boolean {
  return error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged;
}

export type Acknowledgement = 'deferred' | 'replied';

/**
 * Runs `ack` (deferReply, deferUpdate or reply); a 40060 refusal of a copy
 * discord.js sent again marks the interaction `deferred` or `replied`
 * (`ephemeral` as asked) and resolves.
 */
export async function acknowledgeOnce(
  interaction: RepliableInteraction,
  kind: Acknowledgement,
  ack: () => Promise<unknown>,
  options: { ephemeral: boolean; logger: Logger },
): Promise<void> {
  try {
    await ack();
  } catch (error) {
    if (!isAlreadyAcknowledged(error) || interaction.deferred || interaction.replied) throw error;
    interaction[kind] = true;
    interaction.ephemeral = options.ephemeral;
    options.logger.warn({ interaction: interaction.id, kind }, 'acknowledgement sent again after its answer was lost; the first one had landed');
  }
}
