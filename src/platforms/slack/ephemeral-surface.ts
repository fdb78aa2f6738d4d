/**
 * A private answer on Slack (`/ask --private`): Slack cannot edit or stream
 * an ephemeral message, so each message of the answer is sent once with
 * chat.postEphemeral when it stops changing (a full piece of a long answer, or
 * the end). Only the asker sees it; nothing is recorded in a thread.
 */
import type { webApi } from '@slack/bolt';
import type { MessageView } from '../../core/answer-view.ts';
import type { MessageSurface, PostOptions, PostedMessage } from '../../core/types.ts';
import { fallbackText, formatView, sectionBlocks, viewBlocks } from './blocks.ts';
import { toSurfaceError } from './errors.ts';
import { SLACK_MAX_MESSAGE_LENGTH } from './surface.ts';

export interface EphemeralSurfaceOptions {
  client: webApi.WebClient;
  channel: string;
  userId: string;
  teamId: string;
}

export function createEphemeralSurface(options: EphemeralSurfaceOptions): MessageSurface {
  let next = 0;
  const sent = new Set<string>();
  const send = async (id: string, text: string, view: MessageView | undefined) => {
    // Until a message is done it stays here: an ephemeral message cannot be changed once sent.
    if (sent.has(id) || view === undefined || view.streaming) return;
    sent.add(id);
    try {
      await options.client.chat.postEphemeral({
        channel: options.channel,
        user: options.userId,
        text: fallbackText(formatView(view)),
        blocks: view.body === '' && !view.final ? sectionBlocks(text) : viewBlocks(view),
      });
    } catch (error) {
      throw toSurfaceError(error);
    }
  };
  return {
    maxMessageLength: SLACK_MAX_MESSAGE_LENGTH,
    // Nothing is sent while the answer streams; the budget only spaces the final sends.
    rateLimit: { count: 5, windowMs: 1_000 },
    budgetKey: `slack-ephemeral:${options.teamId}:${options.channel}:${options.userId}`,
    format: formatView,
    async post(text: string, postOptions?: PostOptions): Promise<PostedMessage> {
      const id = `ephemeral-${++next}`;
      await send(id, text, postOptions?.view);
      return { id };
    },
    async edit(messageId: string, text: string, postOptions?: PostOptions): Promise<void> {
      await send(messageId, text, postOptions?.view);
    },
  };
}
