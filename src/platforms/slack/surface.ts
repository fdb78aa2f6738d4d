/**
 * Where a Slack answer is shown. Two ways: Slack's streaming methods
 * (chat.startStream / appendStream / stopStream, in threads) as the renderer's
 * native stream, and chat.postMessage + chat.update at one update a second as
 * the fallback the renderer uses when there is no stream or it fails. When a
 * stream dies part way (`message_not_in_streaming_state`), the fallback's first
 * post updates the streamed message instead of posting a second one.
 */
import type { types, webApi } from '@slack/bolt';
import {
  type Clock,
  MessageGoneError,
  PlatformRateLimitError,
  type MessageAction,
  type MessageSurface,
  type NativeStream,
  type PostedMessage,
} from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { defuseBroadcasts, escapeMrkdwn, markdownToMrkdwn, neutralizeMentions, safeStreamPrefixLength } from './mrkdwn.ts';

/** Raw Markdown per message; leaves room for mrkdwn escaping under chat.update's ~4,000. */
export const SLACK_MAX_MESSAGE_LENGTH = 3_500;
/** About one chat.update a second (per channel: the core's budget is per key). */
export const SLACK_RATE_LIMIT = { count: 1, windowMs: 1_000 } as const;
/** Section block text limit. */
const SECTION_LIMIT = 3_000;
/** Top-level `text` kept under chat.update's limit (it is the notification and history text). */
const TEXT_LIMIT = 3_900;
/** A streamed message is closed and a new one started past this many characters. */
const STREAM_MESSAGE_LIMIT = 11_000;
/** markdown_text per streaming call (Slack allows 12,000). */
const STREAM_CHUNK_LIMIT = 10_000;

export const ACTION_PREFIX = 'switchboard_';
/** Marks the small "Stop" message shown beside a native stream, so history skips it. */
export const CONTROL_BLOCK_ID = 'switchboard_control';

/** Platform errors meaning the message or its channel can no longer be written. */
const GONE_ERRORS = new Set([
  'message_not_found',
  'channel_not_found',
  'thread_not_found',
  'is_archived',
  'cant_update_message',
  'not_in_channel',
  'edit_window_closed',
]);
const STREAM_EXPIRED = 'message_not_in_streaming_state';

/** The Slack error code of a WebClient error, if any. */
export function slackErrorCode(error: unknown): string | undefined {
  const data = (error as { data?: { error?: unknown } } | undefined)?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}

/** Turns WebClient errors into the core's surface errors (429 -> PlatformRateLimitError, gone -> MessageGoneError). */
export function toSurfaceError(error: unknown): unknown {
  const coded = error as { code?: string; retryAfter?: number } | undefined;
  if (coded?.code === 'slack_webapi_rate_limited_error') {
    return new PlatformRateLimitError(Math.max(1, coded.retryAfter ?? 1) * 1000, { cause: error });
  }
  const code = slackErrorCode(error);
  if (code && GONE_ERRORS.has(code)) return new MessageGoneError(`Slack: ${code}`, { cause: error });
  return error;
}

/** Splits mrkdwn into pieces of at most `limit`, at a line break or space, never inside `&...;` or `<...>`. */
export function splitMrkdwn(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    let cut = rest.lastIndexOf('\n', limit);
    if (cut < limit / 2) cut = rest.lastIndexOf(' ', limit);
    if (cut < limit / 2) cut = limit;
    const head = rest.slice(0, cut);
    const amp = head.lastIndexOf('&');
    if (amp >= 0 && !head.includes(';', amp)) cut = amp;
    const open = rest.slice(0, cut).lastIndexOf('<');
    if (open > 0 && !rest.slice(open, cut).includes('>')) cut = open;
    if (cut <= 0) cut = limit;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  pieces.push(rest);
  return pieces;
}

/**
 * PostedMessage.ref on Slack: the message, its thread, whether it may still be
 * a native stream, and the "Thinking…"/Stop message shown beside a stream.
 */
export interface SlackMessageRef {
  channel: string;
  ts?: string;
  thread?: string;
  control?: string;
  streaming?: boolean;
}

export function slackMessageRef(ref: SlackMessageRef): string {
  return JSON.stringify(ref);
}

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

const messageArgs = { parse: 'none', link_names: false, unfurl_links: false, unfurl_media: false } as const;

export function createSlackSurface(options: SlackSurfaceOptions): MessageSurface {
  const { client, channel, threadTs, logger } = options;
  /** A streamed message the fallback should take over, and whether it may still be streaming. */
  let takeover: { ts: string; maybeStreaming: boolean } | undefined;

  const blocksFor = (markdown: string, actions: MessageAction[] | undefined, first: boolean) => {
    const mrkdwn = markdownToMrkdwn(markdown);
    const blocks: types.KnownBlock[] = [];
    if (first && options.header) {
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: defuseBroadcasts(escapeMrkdwn(options.header)).slice(0, 2000), verbatim: true }] });
    }
    for (const piece of splitMrkdwn(mrkdwn.trim() === '' ? '…' : mrkdwn, SECTION_LIMIT)) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: piece.trim() === '' ? '…' : piece, verbatim: true } });
    }
    if (actions && actions.length > 0) blocks.push(actionsBlock(actions, options.requestId));
    const text = mrkdwn.length > TEXT_LIMIT ? `${splitMrkdwn(mrkdwn, TEXT_LIMIT - 1)[0]}…` : mrkdwn;
    return { text: text.trim() === '' ? '…' : text, blocks };
  };

  const update = async (ts: string, text: string, actions: MessageAction[] | undefined, first: boolean) => {
    try {
      await client.chat.update({ channel, ts, ...blocksFor(text, actions, first), ...messageArgs });
    } catch (error) {
      throw toSurfaceError(error);
    }
  };

  let firstMessageId: string | undefined;

  const surface: MessageSurface = {
    maxMessageLength: SLACK_MAX_MESSAGE_LENGTH,
    rateLimit: SLACK_RATE_LIMIT,
    budgetKey: `slack:${options.teamId}:${channel}`,
    async post(text, postOptions): Promise<PostedMessage> {
      const first = firstMessageId === undefined;
      const target = takeover;
      if (target) {
        takeover = undefined;
        if (target.maybeStreaming) {
          // Close a stream that failed for another reason, so the message can be updated.
          await client.chat.stopStream({ channel, ts: target.ts }).catch(() => undefined);
        }
        await update(target.ts, text, postOptions?.actions, first);
        firstMessageId ??= target.ts;
        return { id: target.ts, ref: slackMessageRef({ channel, ts: target.ts, thread: threadTs }) };
      }
      let ts: string | undefined;
      try {
        const result = await client.chat.postMessage({
          channel,
          ...(threadTs ? { thread_ts: threadTs } : {}),
          ...blocksFor(text, postOptions?.actions, first),
          ...messageArgs,
        });
        ts = result.ts;
      } catch (error) {
        throw toSurfaceError(error);
      }
      if (!ts) throw new Error('chat.postMessage returned no ts');
      firstMessageId ??= ts;
      return { id: ts, ref: slackMessageRef({ channel, ts, thread: threadTs }) };
    },
    async edit(messageId, text, editOptions) {
      await update(messageId, text, editOptions?.actions, messageId === firstMessageId);
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
        logger,
      });
  }
  return surface;
}

function actionsBlock(actions: MessageAction[], requestId: string): types.ActionsBlock {
  return {
    type: 'actions',
    block_id: 'switchboard_actions',
    elements: actions.map((action) => ({
      type: 'button' as const,
      action_id: `${ACTION_PREFIX}${action.id}`,
      text: { type: 'plain_text', text: action.label.slice(0, 75), emoji: true },
      value: requestId,
      ...(action.id === 'stop' ? { style: 'danger' as const } : {}),
    })),
  };
}

interface NativeStreamOptions extends SlackSurfaceOptions {
  threadTs: string;
  onStarted(ts: string): void;
  onFailed(ts: string | undefined, expired: boolean): void;
  onFinished(): void;
}

/** Least time between two streaming calls of one answer (chat.appendStream is Tier 4, ~100 a minute). */
const STREAM_INTERVAL_MS = 600;
/** 429s waited out inside the stream before it gives up and the renderer falls back. */
const STREAM_RATE_LIMIT_RETRIES = 5;

/**
 * The renderer's native stream. Calls are spaced STREAM_INTERVAL_MS apart and
 * whatever arrives meanwhile goes in the next call. A trailing `<…` or
 * `@her…` is held back until it can be neutralised whole. 429s are waited out
 * here: the renderer would re-send the same delta, doubling text.
 */
function createNativeStream(options: NativeStreamOptions): NativeStream {
  const { client, channel, threadTs, logger, clock } = options;
  let raw = '';
  let sentRaw = 0;
  let ts: string | undefined;
  let messageLength = 0;
  let failure: unknown;
  let nextCallAt = 0;
  let blockedUntil = 0;

  // Shown at once: the "thinking" placeholder and the Stop button, removed when the answer ends.
  let controlTs: string | undefined;
  const controlPosted = client.chat
    .postMessage({
      channel,
      thread_ts: threadTs,
      text: 'Thinking…',
      blocks: [
        { type: 'context', block_id: CONTROL_BLOCK_ID, elements: [{ type: 'mrkdwn', text: '_Thinking…_', verbatim: true }] },
        actionsBlock([{ id: 'stop', label: 'Stop' }], options.requestId),
      ],
      ...messageArgs,
    })
    .then((result) => {
      controlTs = result.ts;
    })
    .catch((error: unknown) => {
      logger.debug({ err: error }, 'could not post the thinking/stop message');
    });

  const removeControl = async () => {
    await controlPosted;
    const control = controlTs;
    controlTs = undefined;
    if (!control) return;
    await client.chat.delete({ channel, ts: control }).catch((error: unknown) => {
      logger.debug({ err: error }, 'could not delete the thinking/stop message');
    });
  };

  const fail = async (error: unknown): Promise<never> => {
    const code = slackErrorCode(error);
    failure ??= error;
    options.onFailed(ts, code === STREAM_EXPIRED);
    await removeControl();
    if (!ts && code && code !== STREAM_EXPIRED && !GONE_ERRORS.has(code)) options.onStreamUnsupported?.(code);
    const mapped = toSurfaceError(error);
    // A rate limit that outlasted our retries must not make the renderer re-send the delta.
    throw mapped instanceof PlatformRateLimitError ? new Error('Slack kept rate limiting the stream', { cause: error }) : mapped;
  };

  /** One Web API call, paced, with 429s waited out. */
  const call = async <T>(fn: () => Promise<T>, paced = true): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      // An unpaced call (the one chat.stopStream) skips the spacing but never a 429's retry-after.
      const wait = Math.max(blockedUntil, paced ? nextCallAt : 0) - clock.now();
      if (wait > 0) await clock.sleep(wait);
      try {
        return await fn();
      } catch (error) {
        const mapped = toSurfaceError(error);
        if (!(mapped instanceof PlatformRateLimitError) || attempt >= STREAM_RATE_LIMIT_RETRIES) throw error;
        blockedUntil = clock.now() + mapped.retryAfterMs;
        nextCallAt = blockedUntil;
      } finally {
        nextCallAt = Math.max(nextCallAt, clock.now() + STREAM_INTERVAL_MS);
      }
    }
  };

  const startMessage = async (markdown: string) => {
    const result = await call(() =>
      client.chat.startStream({
        channel,
        thread_ts: threadTs,
        markdown_text: markdown,
        recipient_user_id: options.recipientUserId,
        recipient_team_id: options.teamId,
      }),
    );
    if (!result.ts) throw new Error('chat.startStream returned no ts');
    ts = result.ts;
    messageLength = markdown.length;
    options.onStarted(ts);
  };

  const send = async (markdown: string) => {
    for (let offset = 0; offset < markdown.length; offset += STREAM_CHUNK_LIMIT) {
      const chunk = markdown.slice(offset, offset + STREAM_CHUNK_LIMIT);
      const current = ts;
      if (current && messageLength + chunk.length > STREAM_MESSAGE_LIMIT) {
        // Long answers continue in a new streamed message.
        await call(() => client.chat.stopStream({ channel, ts: current }));
        ts = undefined;
      }
      const open = ts;
      if (!open) await startMessage(chunk);
      else {
        await call(() => client.chat.appendStream({ channel, ts: open, markdown_text: chunk }));
        messageLength += chunk.length;
      }
    }
  };

  const flush = async (final: boolean) => {
    if (failure !== undefined) throw toSurfaceError(failure);
    const end = final ? raw.length : sentRaw + safeStreamPrefixLength(raw.slice(sentRaw));
    if (end <= sentRaw) return;
    const markdown = neutralizeMentions(raw.slice(sentRaw, end));
    sentRaw = end;
    if (markdown === '') return;
    try {
      await send(markdown);
    } catch (error) {
      await fail(error);
    }
  };

  // Stream calls run one at a time. An append that would have to wait for the
  // pacing interval returns at once and leaves its text buffered: a timer sends
  // it when the interval passes, unless the next append or stop takes it first.
  let chain: Promise<void> = Promise.resolve();
  const exclusive = (fn: () => Promise<void>): Promise<void> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  let pending: AbortController | undefined;
  const cancelPending = () => {
    pending?.abort();
    pending = undefined;
  };
  const scheduleFlush = () => {
    if (pending || failure !== undefined) return;
    const controller = new AbortController();
    pending = controller;
    const wait = Math.max(blockedUntil, nextCallAt) - clock.now();
    clock
      .sleep(Math.max(0, wait), controller.signal)
      .then(async () => {
        // stop() or a newer append took over between the timer firing and this turn.
        if (controller.signal.aborted) return;
        if (pending === controller) pending = undefined;
        await exclusive(() => flush(false));
      })
      .catch(() => undefined); // aborted, or failed: `failure` is set and the next call throws it
  };

  return {
    async append(text) {
      raw += text;
      if (failure !== undefined) throw toSurfaceError(failure);
      if (ts !== undefined && Math.max(blockedUntil, nextCallAt) > clock.now()) {
        scheduleFlush();
        return;
      }
      cancelPending();
      await exclusive(() => flush(false));
    },
    async stop(footer) {
      cancelPending();
      await chain;
      // The last text rides on chat.stopStream when it fits the open message:
      // the answer ends one call (and one pacing interval) sooner.
      if (failure !== undefined) throw toSurfaceError(failure);
      const rest = neutralizeMentions(raw.slice(sentRaw));
      const inline = ts !== undefined && rest.length <= STREAM_CHUNK_LIMIT && messageLength + rest.length <= STREAM_MESSAGE_LIMIT;
      if (inline) sentRaw = raw.length;
      else await flush(true);
      const footerBlocks = footer.trim()
        ? [{ type: 'context' as const, elements: [{ type: 'mrkdwn' as const, text: escapeMrkdwn(neutralizeMentions(footer)), verbatim: true }] }]
        : undefined;
      try {
        if (!ts) await startMessage('…');
        const open = ts!;
        const last = inline && rest !== '' ? { markdown_text: rest } : {};
        await call(() => client.chat.stopStream({ channel, ts: open, ...last, ...(footerBlocks ? { blocks: footerBlocks } : {}) }), false);
      } catch (error) {
        await fail(error);
      }
      options.onFinished();
      await removeControl();
    },
    ref() {
      if (!ts && !controlTs) return undefined;
      return slackMessageRef({ channel, ts, thread: threadTs, control: controlTs, streaming: ts !== undefined });
    },
  };
}
