/** Private and public replies to the person behind an event. */
import type { RespondFn } from '@slack/bolt';
import { splitMrkdwn } from './blocks.ts';
import type { SlackDeps } from './deps.ts';
import { markdownToMrkdwn } from './mrkdwn.ts';

/** Slack's limit for one response_url message. */
const RESPONSE_LIMIT = 3_000;

export type Reply = (text: string, options?: { ephemeral?: boolean }) => Promise<void>;

/** Replies through a slash command's or a button's response_url (ephemeral: only the person sees it). */
export function replyVia(respond: RespondFn): Reply {
  return async (text, options) => {
    for (const piece of splitMrkdwn(markdownToMrkdwn(text), RESPONSE_LIMIT)) {
      await respond({ response_type: options?.ephemeral ? 'ephemeral' : 'in_channel', text: piece, replace_original: false });
    }
  };
}

/** Replies in a thread to a message's author: ephemeral with chat.postEphemeral, otherwise a thread reply. */
export function replyInThread(deps: SlackDeps, to: { channel: string; user: string; threadTs: string }): Reply {
  return async (text, options) => {
    const mrkdwn = markdownToMrkdwn(text);
    const sent = options?.ephemeral
      ? deps.client.chat.postEphemeral({ channel: to.channel, user: to.user, thread_ts: to.threadTs, text: mrkdwn })
      : deps.client.chat.postMessage({ channel: to.channel, thread_ts: to.threadTs, text: mrkdwn, link_names: false, parse: 'none' });
    await sent.catch((error: unknown) => {
      deps.logger.warn({ err: error }, 'could not deliver a reply');
    });
  };
}
