/**
 * The renderer's native stream on Slack (chat.startStream / appendStream /
 * stopStream, in threads). Calls are spaced STREAM_INTERVAL_MS apart and
 * whatever arrives meanwhile goes in the next call. A trailing `<…` or
 * `@her…` is held back until it can be neutralised whole. 429s are waited out
 * here: the renderer would re-send the same delta, doubling text.
 */
import type { webApi } from '@slack/bolt';
import { PlatformRateLimitError, type Clock, type NativeStream, type StreamEnd } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { actionsBlock, CONTROL_BLOCK_ID, endBlocks } from './blocks.ts';
import { GONE_ERRORS, slackErrorCode, STREAM_EXPIRED, toSurfaceError } from './errors.ts';
import { slackMessageRef } from './message-ref.ts';
import { neutralizeMentions, safeStreamPrefixLength } from './mrkdwn.ts';

/** A streamed message is closed and a new one started past this many characters. */
const STREAM_MESSAGE_LIMIT = 11_000;
/** markdown_text per streaming call (Slack allows 12,000). */
const STREAM_CHUNK_LIMIT = 10_000;
/** Least time between two streaming calls of one answer (chat.appendStream is Tier 4, ~100 a minute). */
const STREAM_INTERVAL_MS = 600;
/** 429s waited out inside the stream before it gives up and the renderer falls back. */
const STREAM_RATE_LIMIT_RETRIES = 5;

export const messageArgs = { parse: 'none', link_names: false, unfurl_links: false, unfurl_media: false } as const;

export interface NativeStreamOptions {
  client: webApi.WebClient;
  logger: Logger;
  clock: Clock;
  channel: string;
  teamId: string;
  threadTs: string;
  recipientUserId: string;
  requestId: string;
  onStarted(ts: string): void;
  onFailed(ts: string | undefined, expired: boolean): void;
  onFinished(): void;
  /** Told when chat.startStream is refused for good (so later answers skip it). */
  onStreamUnsupported?(error: string): void;
}

/** Spaces calls and waits out 429s (an unpaced call skips the spacing but never a retry-after). */
class Pacer {
  nextCallAt = 0;
  blockedUntil = 0;
  constructor(private readonly clock: Clock) {}

  get readyAt(): number {
    return Math.max(this.blockedUntil, this.nextCallAt);
  }

  async call<T>(fn: () => Promise<T>, paced = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const wait = Math.max(this.blockedUntil, paced ? this.nextCallAt : 0) - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
      try {
        return await fn();
      } catch (error) {
        const mapped = toSurfaceError(error);
        if (!(mapped instanceof PlatformRateLimitError) || attempt >= STREAM_RATE_LIMIT_RETRIES) throw error;
        this.blockedUntil = this.clock.now() + mapped.retryAfterMs;
        this.nextCallAt = this.blockedUntil;
      } finally {
        this.nextCallAt = Math.max(this.nextCallAt, this.clock.now() + STREAM_INTERVAL_MS);
      }
    }
  }
}

/** The "Thinking…" placeholder and the Stop button beside a stream, removed when the answer ends. */
function postControl(options: NativeStreamOptions): { ts(): string | undefined; remove(): Promise<void> } {
  const { client, channel, threadTs, logger } = options;
  let controlTs: string | undefined;
  const posted = client.chat
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
  return {
    ts: () => controlTs,
    async remove() {
      await posted;
      const control = controlTs;
      controlTs = undefined;
      if (!control) return;
      await client.chat.delete({ channel, ts: control }).catch((error: unknown) => {
        logger.debug({ err: error }, 'could not delete the thinking/stop message');
      });
    },
  };
}

export function createNativeStream(options: NativeStreamOptions): NativeStream {
  const { client, channel, threadTs, clock } = options;
  const pacer = new Pacer(clock);
  const control = postControl(options);
  const written: string[] = [];
  let raw = '';
  let sentRaw = 0;
  let ts: string | undefined;
  let messageLength = 0;
  let failure: unknown;

  const fail = async (error: unknown): Promise<never> => {
    const code = slackErrorCode(error);
    failure ??= error;
    options.onFailed(ts, code === STREAM_EXPIRED);
    await control.remove();
    if (!ts && code && code !== STREAM_EXPIRED && !GONE_ERRORS.has(code)) options.onStreamUnsupported?.(code);
    const mapped = toSurfaceError(error);
    // A rate limit that outlasted our retries must not make the renderer re-send the delta.
    throw mapped instanceof PlatformRateLimitError ? new Error('Slack kept rate limiting the stream', { cause: error }) : mapped;
  };

  const startMessage = async (markdown: string) => {
    const result = await pacer.call(() =>
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
    written.push(ts);
    messageLength = markdown.length;
    options.onStarted(ts);
  };

  const send = async (markdown: string) => {
    for (let offset = 0; offset < markdown.length; offset += STREAM_CHUNK_LIMIT) {
      const chunk = markdown.slice(offset, offset + STREAM_CHUNK_LIMIT);
      const current = ts;
      if (current && messageLength + chunk.length > STREAM_MESSAGE_LIMIT) {
        // Long answers continue in a new streamed message.
        await pacer.call(() => client.chat.stopStream({ channel, ts: current }));
        ts = undefined;
      }
      const open = ts;
      if (!open) await startMessage(chunk);
      else {
        await pacer.call(() => client.chat.appendStream({ channel, ts: open, markdown_text: chunk }));
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
    clock
      .sleep(Math.max(0, pacer.readyAt - clock.now()), controller.signal)
      .then(async () => {
        // stop() or a newer append took over between the timer firing and this turn.
        if (controller.signal.aborted) return;
        if (pending === controller) pending = undefined;
        await exclusive(() => flush(false));
      })
      .catch(() => undefined); // aborted, or failed: `failure` is set and the next call throws it
  };

  /** Closes the open message with the end blocks; the last text rides along when it fits. */
  const finish = async (end: StreamEnd) => {
    if (failure !== undefined) throw toSurfaceError(failure);
    const rest = neutralizeMentions(raw.slice(sentRaw));
    // Riding on chat.stopStream ends the answer one call (and one pacing interval) sooner.
    const inline = ts !== undefined && rest.length <= STREAM_CHUNK_LIMIT && messageLength + rest.length <= STREAM_MESSAGE_LIMIT;
    if (inline) sentRaw = raw.length;
    else await flush(true);
    const blocks = endBlocks(end);
    try {
      if (!ts) await startMessage('…');
      const open = ts!;
      const last = inline && rest !== '' ? { markdown_text: rest } : {};
      await pacer.call(() => client.chat.stopStream({ channel, ts: open, ...last, ...(blocks.length > 0 ? { blocks } : {}) }), false);
    } catch (error) {
      await fail(error);
    }
  };

  return {
    async append(text) {
      raw += text;
      if (failure !== undefined) throw toSurfaceError(failure);
      if (ts !== undefined && pacer.readyAt > clock.now()) {
        scheduleFlush();
        return;
      }
      cancelPending();
      await exclusive(() => flush(false));
    },
    async stop(end) {
      cancelPending();
      await chain;
      await finish(end);
      options.onFinished();
      await control.remove();
    },
    ref() {
      const controlTs = control.ts();
      if (!ts && !controlTs) return undefined;
      return slackMessageRef({ channel, ts, thread: threadTs, control: controlTs, streaming: ts !== undefined });
    },
    messageIds: () => [...written],
  };
}
