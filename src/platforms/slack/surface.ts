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
import type { AnswerProgress } from '../../core/progress.ts';
import type { Clock, MessageSurface, NativeStream, PostOptions, PostedMessage } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { actionsBlock, fallbackText, feedbackBlock, formatView, headerBlock, sectionBlocks, viewBlocks } from './blocks.ts';
import { toSurfaceError } from './errors.ts';
import { slackMessageRef } from './message-ref.ts';
import { createNativeStream, messageArgs } from './native-stream.ts';
import { uploadAnswerImages } from './upload-images.ts';

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
  /** Told of the answer's progress steps (the assistant thread's status). */
  onProgress?: (step: AnswerProgress | null) => void;
}

/** A message's blocks and top-level text: from the view when there is one, else the text as its body. */
function messageContent(text: string, options: PostOptions | undefined, requestId: string, header: string | undefined) {
  const blocks: types.KnownBlock[] = [];
  if (header !== undefined) blocks.push(headerBlock(header));
  blocks.push(...(options?.view ? viewBlocks(options.view) : sectionBlocks(text)));
  if (options?.actions && options.actions.length > 0) blocks.push(actionsBlock(options.actions, requestId));
  // A finished answer (not a stopped or failed one) can be rated.
  if (options?.view?.final && options.view.endLine === null) blocks.push(feedbackBlock(requestId));
  const mrkdwn = options?.view ? formatView(options.view) : text;
  return { text: fallbackText(mrkdwn), blocks };
}

class SlackSurface implements MessageSurface {
  readonly maxMessageLength = SLACK_MAX_MESSAGE_LENGTH;
  readonly rateLimit = SLACK_RATE_LIMIT;
  readonly budgetKey: string;
  readonly format = formatView;
  readonly stream?: () => NativeStream;
  /** A streamed message the fallback should take over, and whether it may still be streaming. */
  #takeover: { ts: string; maybeStreaming: boolean } | undefined;
  #firstMessageId: string | undefined;
  #imagesShared = false;

  constructor(private readonly options: SlackSurfaceOptions) {
    this.budgetKey = `slack:${options.teamId}:${options.channel}`;
    const threadTs = options.threadTs;
    if (threadTs && options.nativeStream) {
      this.stream = () =>
        createNativeStream({
          ...options,
          threadTs,
          onStarted: (ts) => (this.#takeover = { ts, maybeStreaming: true }),
          onFailed: (ts, expired) => {
            if (ts) this.#takeover = { ts, maybeStreaming: !expired };
          },
          onFinished: () => (this.#takeover = undefined),
        });
    }
  }

  progress(step: AnswerProgress | null): void {
    this.options.onProgress?.(step);
  }

  async post(text: string, postOptions?: PostOptions): Promise<PostedMessage> {
    const { client, channel } = this.options;
    const first = this.#firstMessageId === undefined;
    const target = this.#takeover;
    this.#takeover = undefined;
    if (target?.maybeStreaming) {
      // Close a stream that failed for another reason, so the message can be updated.
      await client.chat.stopStream({ channel, ts: target.ts }).catch(() => undefined);
    }
    const ts = target ? target.ts : await this.#postNew(text, postOptions, first);
    if (target) await this.#update(target.ts, text, postOptions, first);
    this.#firstMessageId ??= ts;
    await this.#uploadImages(postOptions);
    return { id: ts, ref: this.#refOf(ts) };
  }

  async edit(messageId: string, text: string, options?: PostOptions): Promise<void> {
    await this.#update(messageId, text, options, messageId === this.#firstMessageId);
    await this.#uploadImages(options);
  }

  /** The final view's pictures, once, into the answer's thread (its own first message's thread at channel level). */
  async #uploadImages(options: PostOptions | undefined): Promise<void> {
    const images = options?.view?.final ? options.view.images : undefined;
    if (this.#imagesShared || !images || images.files.length === 0) return;
    const threadTs = this.options.threadTs ?? this.#firstMessageId;
    if (threadTs === undefined) return;
    this.#imagesShared = true;
    const { client, channel, logger } = this.options;
    await uploadAnswerImages({ client, channel, threadTs, logger }, images);
  }

  async delete(messageId: string): Promise<void> {
    try {
      await this.options.client.chat.delete({ channel: this.options.channel, ts: messageId });
    } catch (error) {
      throw toSurfaceError(error);
    }
    if (this.#firstMessageId === messageId) this.#firstMessageId = undefined;
  }

  #content(text: string, options: PostOptions | undefined, first: boolean) {
    return messageContent(text, options, this.options.requestId, first ? this.options.header : undefined);
  }

  #refOf(ts: string): string {
    const { channel, threadTs, header } = this.options;
    return slackMessageRef({ channel, ts, thread: threadTs, ...(ts === this.#firstMessageId && header ? { header } : {}) });
  }

  async #update(ts: string, text: string, options: PostOptions | undefined, first: boolean): Promise<void> {
    try {
      await this.options.client.chat.update({ channel: this.options.channel, ts, ...this.#content(text, options, first), ...messageArgs });
    } catch (error) {
      throw toSurfaceError(error);
    }
  }

  async #postNew(text: string, options: PostOptions | undefined, first: boolean): Promise<string> {
    const { client, channel, threadTs } = this.options;
    let ts: string | undefined;
    try {
      const result = await client.chat.postMessage({ channel, ...(threadTs ? { thread_ts: threadTs } : {}), ...this.#content(text, options, first), ...messageArgs });
      ts = result.ts;
    } catch (error) {
      throw toSurfaceError(error);
    }
    if (!ts) throw new Error('chat.postMessage returned no ts');
    return ts;
  }
}

export function createSlackSurface(options: SlackSurfaceOptions): MessageSurface {
  return new SlackSurface(options);
}
