/**
 * Where a Slack answer is shown. Two ways: Slack's streaming methods (in
 * threads) as the renderer's native stream (native-stream.ts), and
 * chat.postMessage + chat.update at one update a second as the fallback the
 * renderer uses when there is no stream or it fails. When a stream dies part
 * way (`message_not_in_streaming_state`), the fallback's first post updates the
 * streamed message instead of posting a second one. Messages are built from
 * the renderer's MessageView (blocks.ts), never from its text.
 */
import type { types, webApi } from '@slack/bolt';
import type { Clock, MessageSurface, PostOptions, PostedMessage } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { actionsBlock, fallbackText, formatView, headerBlock, sectionBlocks, viewBlocks } from './blocks.ts';
import { toSurfaceError } from './errors.ts';
import { slackMessageRef } from './message-ref.ts';
import { createNativeStream, messageArgs } from './native-stream.ts';

export { slackMessageRef, type SlackMessageRef } from './message-ref.ts';

/** Raw Markdown per message; leaves room for mrkdwn escaping under chat.update's ~4,000. */
export const SLACK_MAX_MESSAGE_LENGTH = 3_500;
/** About one chat.update a second (per channel: the core's budget is per key). */
export const SLACK_RATE_LIMIT = { count: 1, windowMs: 1_000 } as const;

export interface SlackSurfaceOptions {
  client: webApi.WebClient;
  logger: Logger;
  channel: string;
  teamId: string;
  /** Answers in this thread; also what makes native streaming possible. */
  threadTs?: string;
  /** Who the streamed answer is for (chat.startStream needs it outside DMs). */
  recipientUserId: string;
  /** The Stop button's value. */
  requestId: string;
  /** Shown above the first message (e.g. who asked what, for /ask). */
  header?: string;
  /** Offer chat.startStream; false after Slack said it does not support it. */
  nativeStream: boolean;
  clock: Clock;
  /** Told when chat.startStream is refused for good (so later answers skip it). */
  onStreamUnsupported?(error: string): void;
}

/** A message's blocks and top-level text: from the view when there is one, else the text as its body. */
function messageContent(text: string, options: PostOptions | undefined, requestId: string, header: string | undefined) {
  const blocks: types.KnownBlock[] = [];
  if (header !== undefined) blocks.push(headerBlock(header));
  blocks.push(...(options?.view ? viewBlocks(options.view) : sectionBlocks(text)));
  if (options?.actions && options.actions.length > 0) blocks.push(actionsBlock(options.actions, requestId));
  const mrkdwn = options?.view ? formatView(options.view) : text;
  return { text: fallbackText(mrkdwn), blocks };
}

export function createSlackSurface(options: SlackSurfaceOptions): MessageSurface {
  const { client, channel, threadTs } = options;
  /** A streamed message the fallback should take over, and whether it may still be streaming. */
  let takeover: { ts: string; maybeStreaming: boolean } | undefined;
  let firstMessageId: string | undefined;

  const headerFor = (first: boolean) => (first ? options.header : undefined);
  const refOf = (ts: string) => slackMessageRef({ channel, ts, thread: threadTs, ...(ts === firstMessageId && options.header ? { header: options.header } : {}) });

  const update = async (ts: string, text: string, postOptions: PostOptions | undefined, first: boolean) => {
    try {
      await client.chat.update({ channel, ts, ...messageContent(text, postOptions, options.requestId, headerFor(first)), ...messageArgs });
    } catch (error) {
      throw toSurfaceError(error);
    }
  };

  const postNew = async (text: string, postOptions: PostOptions | undefined, first: boolean): Promise<string> => {
    let ts: string | undefined;
    try {
      const content = messageContent(text, postOptions, options.requestId, headerFor(first));
      const result = await client.chat.postMessage({ channel, ...(threadTs ? { thread_ts: threadTs } : {}), ...content, ...messageArgs });
      ts = result.ts;
    } catch (error) {
      throw toSurfaceError(error);
    }
    if (!ts) throw new Error('chat.postMessage returned no ts');
    return ts;
  };

  const surface: MessageSurface = {
    maxMessageLength: SLACK_MAX_MESSAGE_LENGTH,
    rateLimit: SLACK_RATE_LIMIT,
    budgetKey: `slack:${options.teamId}:${channel}`,
    format: formatView,
    async post(text, postOptions): Promise<PostedMessage> {
      const first = firstMessageId === undefined;
      const target = takeover;
      takeover = undefined;
      if (target?.maybeStreaming) {
        // Close a stream that failed for another reason, so the message can be updated.
        await client.chat.stopStream({ channel, ts: target.ts }).catch(() => undefined);
      }
      const ts = target ? target.ts : await postNew(text, postOptions, first);
      if (target) await update(target.ts, text, postOptions, first);
      firstMessageId ??= ts;
      return { id: ts, ref: refOf(ts) };
    },
    async edit(messageId, text, editOptions) {
      await update(messageId, text, editOptions, messageId === firstMessageId);
    },
    async delete(messageId) {
      try {
        await client.chat.delete({ channel, ts: messageId });
      } catch (error) {
        throw toSurfaceError(error);
      }
      if (firstMessageId === messageId) firstMessageId = undefined;
    },
  };

  if (threadTs && options.nativeStream) {
    surface.stream = () =>
      createNativeStream({
        ...options,
        threadTs,
        onStarted(ts) {
          takeover = { ts, maybeStreaming: true };
        },
        onFailed(ts, expired) {
          if (ts) takeover = { ts, maybeStreaming: !expired };
        },
        onFinished() {
          takeover = undefined;
        },
      });
  }
  return surface;
}
