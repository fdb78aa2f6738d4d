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
import { actionsBlock, contextBlock, CONTROL_BLOCK_ID, endBlocks, feedbackBlock, imageProblemBlocks, sourcesBlocks } from './blocks.ts';
import { GONE_ERRORS, slackErrorCode, STREAM_EXPIRED, toSurfaceError } from './errors.ts';
import { slackMessageRef } from './message-ref.ts';
import { uploadAnswerImages } from './upload-images.ts';
import { neutralizeMentions, safeStreamPrefixLength } from './mrkdwn.ts';

/** A streamed message is closed and a new one started past this many characters. */
const STREAM_MESSAGE_LIMIT = 11_000;
/** markdown_text per streaming call (Slack allows 12,000). */
const STREAM_CHUNK_LIMIT = 10_000;
/** Least time between two streaming calls of one answer (chat.appendStream is Tier 4, ~100 a minute). */
const STREAM_INTERVAL_MS = 600;
/** Slack takes about one chat.update per message per second. */
const CONTROL_UPDATE_INTERVAL_MS = 1_000;
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

/** The control message's blocks: "Thinking…" (or the answer's status line) and the Stop button. */
function controlBlocks(requestId: string, status: string | null) {
  const line = status === null ? { type: 'context' as const, block_id: CONTROL_BLOCK_ID, elements: [{ type: 'mrkdwn' as const, text: '_Thinking…_', verbatim: true }] } : contextBlock(status, CONTROL_BLOCK_ID);
  return [line, actionsBlock([{ id: 'stop', label: 'Stop' }], requestId)];
}

/**
 * The "Thinking…" placeholder and the Stop button beside a stream, removed when
 * the answer ends; it shows the answer's status line (a thinking model's
 * seconds, a tool in use) while there is one.
 */
function postControl(options: NativeStreamOptions): { ts(): string | undefined; posted: Promise<void>; status(line: string | null): void; remove(): Promise<void> } {
  const { client, channel, threadTs, logger, clock } = options;
  let controlTs: string | undefined;
  let wanted: string | null = null;
  let shown: string | null = null;
  let lastUpdateAt = Number.NEGATIVE_INFINITY;
  let pump: Promise<void> | null = null;
  const removing = new AbortController();
  const posted = client.chat
    .postMessage({
      channel,
      thread_ts: threadTs,
      text: 'Thinking…',
      blocks: controlBlocks(options.requestId, null),
      ...messageArgs,
    })
    .then((result) => {
      controlTs = result.ts;
    })
    .catch((error: unknown) => {
      logger.debug({ err: error }, 'could not post the thinking/stop message');
    });
  const update = async (line: string | null) => {
    await posted;
    if (!controlTs) return;
    await client.chat
      .update({ channel, ts: controlTs, text: line ?? 'Thinking…', blocks: controlBlocks(options.requestId, line), ...messageArgs })
      .catch((error: unknown) => logger.debug({ err: error }, 'could not update the thinking/stop message'));
  };
  // One update at a time, at most one per CONTROL_UPDATE_INTERVAL_MS, always the latest line.
  const run = async () => {
    await posted;
    while (wanted !== shown && controlTs && !removing.signal.aborted) {
      const wait = lastUpdateAt + CONTROL_UPDATE_INTERVAL_MS - clock.now();
      if (wait > 0) await clock.sleep(wait, removing.signal).catch(() => undefined);
      if (removing.signal.aborted) return;
      const line = wanted;
      await update(line);
      shown = line;
      lastUpdateAt = clock.now();
    }
  };
  const start = (): void => {
    pump ??= run().finally(() => {
      pump = null;
      // A line that came in as the loop was ending.
      if (wanted !== shown && controlTs && !removing.signal.aborted) start();
    });
  };
  return {
    ts: () => controlTs,
    posted,
    status(line) {
      wanted = line;
      start();
    },
    async remove() {
      removing.abort();
      await pump;
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

/** Stream calls run one at a time, in order. */
class CallChain {
  #tail: Promise<void> = Promise.resolve();

  run(fn: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every call queued so far has finished (failed ones included). */
  settled(): Promise<void> {
    return this.#tail;
  }
}

/**
 * One answer's stream. An append that would have to wait for the pacing
 * interval returns at once and leaves its text buffered: a timer sends it when
 * the interval passes, unless the next append or stop takes it first.
 */
class SlackNativeStream implements NativeStream {
  readonly #pacer: Pacer;
  readonly #control: ReturnType<typeof postControl>;
  readonly #calls = new CallChain();
  /** Every message this stream started, in order. */
  readonly #written: string[] = [];
  #raw = '';
  #sentRaw = 0;
  /** The open streamed message. */
  #ts: string | undefined;
  #messageLength = 0;
  #failure: unknown;
  #pending: AbortController | undefined;

  constructor(private readonly options: NativeStreamOptions) {
    this.#pacer = new Pacer(options.clock);
    this.#control = postControl(options);
  }

  async append(text: string): Promise<void> {
    this.#raw += text;
    if (this.#failure !== undefined) throw toSurfaceError(this.#failure);
    if (this.#ts !== undefined && this.#pacer.readyAt > this.options.clock.now()) {
      this.#scheduleFlush();
      return;
    }
    this.#cancelPending();
    // The first write waits for the Stop message (posted when the stream opened, usually long done):
    // the ref recorded after it then names both, and crash recovery can remove the Stop message.
    if (this.#ts === undefined) await this.#control.posted;
    await this.#calls.run(() => this.#flush(false));
  }

  async stop(end: StreamEnd): Promise<void> {
    this.#cancelPending();
    await this.#calls.settled();
    await this.#finish(end);
    this.options.onFinished();
    await this.#control.remove();
    const { client, channel, threadTs, logger } = this.options;
    await uploadAnswerImages({ client, channel, threadTs, logger }, end.images);
  }

  async status(text: string | null): Promise<void> {
    this.#control.status(text);
  }

  ref(): string | undefined {
    const control = this.#control.ts();
    if (!this.#ts && !control) return undefined;
    return slackMessageRef({ channel: this.options.channel, ts: this.#ts, thread: this.options.threadTs, control, streaming: this.#ts !== undefined });
  }

  messageIds(): string[] {
    return [...this.#written];
  }

  async #fail(error: unknown): Promise<never> {
    const code = slackErrorCode(error);
    this.#failure ??= error;
    this.options.onFailed(this.#ts, code === STREAM_EXPIRED);
    await this.#control.remove();
    if (!this.#ts && code && code !== STREAM_EXPIRED && !GONE_ERRORS.has(code)) this.options.onStreamUnsupported?.(code);
    const mapped = toSurfaceError(error);
    // A rate limit that outlasted our retries must not make the renderer re-send the delta.
    throw mapped instanceof PlatformRateLimitError ? new Error('Slack kept rate limiting the stream', { cause: error }) : mapped;
  }

  async #startMessage(markdown: string): Promise<void> {
    const { client, channel, threadTs, recipientUserId, teamId } = this.options;
    const result = await this.#pacer.call(() =>
      client.chat.startStream({ channel, thread_ts: threadTs, markdown_text: markdown, recipient_user_id: recipientUserId, recipient_team_id: teamId }),
    );
    if (!result.ts) throw new Error('chat.startStream returned no ts');
    this.#ts = result.ts;
    this.#written.push(result.ts);
    this.#messageLength = markdown.length;
    this.options.onStarted(result.ts);
  }

  async #send(markdown: string): Promise<void> {
    const { client, channel } = this.options;
    for (let offset = 0; offset < markdown.length; offset += STREAM_CHUNK_LIMIT) {
      const chunk = markdown.slice(offset, offset + STREAM_CHUNK_LIMIT);
      const current = this.#ts;
      if (current && this.#messageLength + chunk.length > STREAM_MESSAGE_LIMIT) {
        // Long answers continue in a new streamed message.
        await this.#pacer.call(() => client.chat.stopStream({ channel, ts: current }));
        this.#ts = undefined;
      }
      const open = this.#ts;
      if (!open) await this.#startMessage(chunk);
      else {
        await this.#pacer.call(() => client.chat.appendStream({ channel, ts: open, markdown_text: chunk }));
        this.#messageLength += chunk.length;
      }
    }
  }

  async #flush(final: boolean): Promise<void> {
    if (this.#failure !== undefined) throw toSurfaceError(this.#failure);
    const end = final ? this.#raw.length : this.#sentRaw + safeStreamPrefixLength(this.#raw.slice(this.#sentRaw));
    if (end <= this.#sentRaw) return;
    const markdown = neutralizeMentions(this.#raw.slice(this.#sentRaw, end));
    this.#sentRaw = end;
    if (markdown === '') return;
    try {
      await this.#send(markdown);
    } catch (error) {
      await this.#fail(error);
    }
  }

  #cancelPending(): void {
    this.#pending?.abort();
    this.#pending = undefined;
  }

  #scheduleFlush(): void {
    if (this.#pending || this.#failure !== undefined) return;
    const controller = new AbortController();
    this.#pending = controller;
    const { clock } = this.options;
    clock
      .sleep(Math.max(0, this.#pacer.readyAt - clock.now()), controller.signal)
      .then(async () => {
        // stop() or a newer append took over between the timer firing and this turn.
        if (controller.signal.aborted) return;
        if (this.#pending === controller) this.#pending = undefined;
        await this.#calls.run(() => this.#flush(false));
      })
      .catch(() => undefined); // aborted, or failed: the failure is kept and the next call throws it
  }

  /** Closes the open message with the end blocks; the last text rides along when it fits. */
  async #finish(end: StreamEnd): Promise<void> {
    if (this.#failure !== undefined) throw toSurfaceError(this.#failure);
    const { client, channel } = this.options;
    const rest = neutralizeMentions(this.#raw.slice(this.#sentRaw));
    // Riding on chat.stopStream ends the answer one call (and one pacing interval) sooner.
    const inline = this.#ts !== undefined && rest.length <= STREAM_CHUNK_LIMIT && this.#messageLength + rest.length <= STREAM_MESSAGE_LIMIT;
    if (inline) this.#sentRaw = this.#raw.length;
    else await this.#flush(true);
    const blocks = [...sourcesBlocks(end.sources), ...imageProblemBlocks(end.images), ...endBlocks(end), ...(end.endLine === null ? [feedbackBlock(this.options.requestId)] : [])];
    try {
      if (!this.#ts) await this.#startMessage('…');
      const open = this.#ts!;
      const last = inline && rest !== '' ? { markdown_text: rest } : {};
      await this.#pacer.call(() => client.chat.stopStream({ channel, ts: open, ...last, ...(blocks.length > 0 ? { blocks } : {}) }), false);
    } catch (error) {
      await this.#fail(error);
    }
  }
}

export function createNativeStream(options: NativeStreamOptions): NativeStream {
  return new SlackNativeStream(options);
}
