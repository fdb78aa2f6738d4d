/**
 * 👍/👎 under an answer: one vote per person per answer (pressing again, or
 * the other button, changes it), stored with the request id so `/usage top`
 * can show satisfaction per model from the ledger row it belongs to.
 */
import type { Core } from './core.ts';
import type { InboundAction } from './inbound.ts';

export const FEEDBACK_ACTIONS: Record<string, 1 | -1> = { feedback_up: 1, feedback_down: -1 };

export function isFeedbackAction(action: string): boolean {
  return action in FEEDBACK_ACTIONS;
}

export async function recordFeedback(core: Core, event: InboundAction): Promise<void> {
  const vote = FEEDBACK_ACTIONS[event.action];
  if (vote === undefined || event.requestId === '') {
    await event.port.reply('This button no longer works.', { ephemeral: true });
    return;
  }
  await core.store.setFeedback({ platform: event.place.platform, requestId: event.requestId, userId: event.user.id, vote, at: new Date(core.clock.now()) });
  core.logger.info({ requestId: event.requestId, vote, user: event.user.id }, 'answer feedback');
  await event.port.reply(vote > 0 ? 'Thanks — noted 👍 (press 👎 to change your vote).' : 'Thanks — noted 👎 (press 👍 to change your vote).', { ephemeral: true });
}
