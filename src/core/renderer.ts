/**
 * Streams one answer into chat messages: a placeholder first, then throttled
 * edits as text arrives, split into several messages when it outgrows one,
 * and a final edit with the footer.
 *
 * One loop per renderer does every post and edit, one at a time, so a message
 * never has two edits in flight; each call reads the latest text when its
 * budget slot comes up, so whatever arrived while waiting is coalesced.
 */
import type { Logger } from 'pino';
import { truncate } from '../util/text.ts';
import type { AnswerImages } from './answer-images.ts';
import { formatAnswerText, type AnswerFooter, type AnswerSource, type EndLine, type MessageView } from './answer-view.ts';
import type { RateBudget } from './rate-budget.ts';
import { MIN_SPLIT_LENGTH, splitMessagePieces } from './split.ts';
import {
  MessageGoneError,
  PlatformRateLimitError,
  systemClock,
  type Clock,
  type MessageAction,
  type MessageSurface,
  type NativeStream,
  type StreamEnd,
  type PostOptions,
} from './types.ts';

export type RendererLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface RendererOptions {
  surface: MessageSurface;
  budget: RateBudget;
  clock?: Clock;
  /** Buttons shown on the message being streamed, removed when it is finished. */
  actions?: MessageAction[];
  /** Attempts per post/edit that fails with an ordinary error (rate limits are waited out, not counted). */
  maxAttempts?: number;
  /** Called once when a message is gone: the caller aborts the request. */
  onGone?: () => void;
  /** Told about every 429 the platform answers (metrics); the renderer waits it out itself. */
  onRateLimited?: (retryAfterMs: number) => void;
  logger?: RendererLogger;
  /**
   * Least time between two progress edits of one answer. Defaults to the
   * surface's window / count, which spreads edits out instead of spending the
   * channel's whole budget in the first second.
   */
  minEditIntervalMs?: number;
}

export interface RenderResult {
  messageIds: string[];
  edits: number;
  posts: number;
  /** The final text, decorations included, is on the platform in full. */
  delivered: boolean;
  /** Each message of the answer with its clean answer text (no decorations), for the answer records. */
  pieces: Array<{ id: string; text: string }>;
}

export interface Renderer {
  /** Posts the placeholder (or opens the native stream); rejects if it could not be posted. */
  start(): Promise<void>;
  /** A text delta; the first text is shown as soon as possible. */
  append(text: string): void;
  /** A transient line under the text, e.g. "🔧 using calculator…"; null clears it. */
  status(text: string | null): void;
  /** The sources the answer cites, shown under its final message (not while streaming). */
  sources(list: readonly AnswerSource[]): void;
  /** The pictures the model returned, carried by the final message's view (not while streaming). */
  images(images: AnswerImages): void;
  /** Final text plus footer (on the last message only), actions removed; waits for delivery. */
  finish(footer: AnswerFooter | null): Promise<RenderResult>;
  /** Keeps the partial answer and adds an end line (error, stopped, interrupted) and the footer. */
  fail(endLine: EndLine, footer?: AnswerFooter | null): Promise<RenderResult>;
  readonly gone: boolean;
}

const STATUS_MAX = 200;
const END_LINE_MAX = 1000;
const MAX_RATE_LIMIT_RETRIES = 20;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 8000;
/** Longest fence line the splitter adds to close a block ("\n" + marker). */
const CLOSE_FENCE_MAX = 7;

type Phase = 'streaming' | 'finished' | 'failed';

interface Slot {
  id: string | null;
  /** Text last confirmed on the platform. */
  shown: string | null;
  shownActions: boolean;
  /** Whether the platform shows answer text (not the placeholder) in this message. */
  shownAnswer: boolean;
  /** The final piece once the text moved on to a later message; null for the active one. */
  frozen: string | null;
  /** The frozen piece as its surface shows it. */
  frozenText: string;
  /** The platform kept refusing edits to this message, so its text went to a new one. */
  reposted: boolean;
}

interface Wanted {
  text: string;
  actions: boolean;
  view: MessageView;
}

const silentLogger: RendererLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Creates the renderer for one answer. */
export function createRenderer(options: RendererOptions): Renderer {
  return new StreamingRenderer(options);
}

class StreamingRenderer implements Renderer {
  readonly #surface: MessageSurface;
  readonly #budget: RateBudget;
  readonly #clock: Clock;
  readonly #format: (view: MessageView) => string;
  readonly #actions: MessageAction[];
  readonly #maxAttempts: number;
  readonly #onGone: (() => void) | undefined;
  readonly #onRateLimited: ((retryAfterMs: number) => void) | undefined;
  readonly #log: RendererLogger;
  readonly #minEditIntervalMs: number;

  #text = '';
  /** The active message shows `#tailPrefix + #text.slice(#tailStart)`. */
  #tailStart = 0;
  #tailPrefix = '';
  #status: string | null = null;
  #footer: AnswerFooter | null = null;
  #sources: readonly AnswerSource[] = [];
  #images: AnswerImages | undefined;
  #endLine: EndLine | null = null;
  #phase: Phase = 'streaming';
  #ended = false;
  #slots: Slot[] = [];
  #activeDisplay = '';
  #activeView: MessageView = emptyView();
  #activeHasAnswer = false;
  #edits = 0;
  #posts = 0;
  #gone = false;
  #stopped = false;
  #lastProgressAt: number | null = null;

  #started: Promise<void> | null = null;
  #ending: Promise<RenderResult> | null = null;
  #firstPost: { resolve: () => void; reject: (error: unknown) => void } | null = null;
  #pump: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #paceAbort: AbortController | null = null;

  #mode: 'edit' | 'native' = 'edit';
  #native: NativeStream | null = null;
  #nativeQueue = '';
  #nativeRun: Promise<void> | null = null;

  constructor(options: RendererOptions) {
    this.#surface = options.surface;
    this.#budget = options.budget;
    this.#clock = options.clock ?? systemClock;
    this.#format = options.surface.format ? options.surface.format.bind(options.surface) : formatAnswerText;
    this.#actions = options.actions ?? [];
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#onGone = options.onGone;
    this.#onRateLimited = options.onRateLimited;
    this.#log = options.logger ?? silentLogger;
    const { count, windowMs } = this.#surface.rateLimit;
    this.#minEditIntervalMs = options.minEditIntervalMs ?? windowMs / Math.max(1, count);
    if (!(this.#surface.maxMessageLength >= 2 * MIN_SPLIT_LENGTH)) {
      throw new RangeError(`maxMessageLength must be at least ${2 * MIN_SPLIT_LENGTH}`);
    }
  }

  get gone(): boolean {
    return this.#gone;
  }

  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  append(text: string): void {
    if (text === '' || this.#ended) return;
    this.#startQuietly();
    this.#text += text;
    if (this.#mode === 'native') {
      this.#nativeQueue += text;
      this.#kickNative();
      return;
    }
    // Freeze full messages right away rather than after the next paced edit.
    if (this.#mayNeedSplit()) {
      const before = this.#slots.length;
      this.#layout();
      if (this.#slots.length > before) this.#urgent();
    }
    this.#notify();
  }

  status(text: string | null): void {
    if (this.#ended) return;
    this.#status = text === null || text.trim() === '' ? null : truncate(text, STATUS_MAX);
    if (this.#mode === 'edit') this.#notify();
    else this.#nativeStatus();
  }

  sources(list: readonly AnswerSource[]): void {
    if (!this.#ended) this.#sources = [...list];
  }

  images(images: AnswerImages): void {
    if (!this.#ended && (images.files.length > 0 || images.problems.length > 0)) this.#images = images;
  }

  finish(footer: AnswerFooter | null): Promise<RenderResult> {
    this.#ending ??= this.#end('finished', footer, null);
    return this.#ending;
  }

  fail(endLine: EndLine, footer: AnswerFooter | null = null): Promise<RenderResult> {
    this.#ending ??= this.#end('failed', footer, { ...endLine, text: truncate(endLine.text, END_LINE_MAX) });
    return this.#ending;
  }

  // ---- start and end ----------------------------------------------------

  async #start(): Promise<void> {
    if (this.#surface.stream) {
      try {
        this.#native = this.#surface.stream();
        this.#mode = 'native';
        if (this.#status !== null) this.#nativeStatus();
        return;
      } catch (error) {
        this.#log.warn({ err: error }, 'native stream unavailable; posting and editing instead');
      }
    }
    this.#ensureSlot();
    this.#kick();
    const first = this.#slots[0]!;
    if (first.id !== null) return;
    if (this.#stopped) throw this.#stopError();
    await new Promise<void>((resolve, reject) => {
      this.#firstPost = { resolve, reject };
    });
  }

  #startQuietly(): void {
    if (this.#started) return;
    this.start().catch((error: unknown) => this.#log.debug({ err: error }, 'implicit start failed'));
  }

  async #end(phase: Phase, footer: AnswerFooter | null, endLine: EndLine | null): Promise<RenderResult> {
    this.#ended = true;
    this.#phase = phase;
    this.#footer = footer;
    this.#endLine = endLine;
    this.#startQuietly();
    if (this.#mode === 'native') {
      const result = await this.#endNative(phase);
      if (result) return result;
    }
    if (!this.#stopped) {
      this.#ensureSlot();
      this.#urgent();
      this.#kick();
      while (this.#pump) await this.#pump;
    }
    return this.#result();
  }

  #result(): RenderResult {
    const delivered =
      !this.#stopped &&
      this.#slots.length > 0 &&
      this.#slots.every((slot) => {
        const wanted = this.#wanted(slot);
        return slot.id !== null && slot.shown === wanted.text && slot.shownActions === wanted.actions;
      });
    return {
      messageIds: this.#slots.flatMap((slot) => (slot.id === null ? [] : [slot.id])),
      edits: this.#edits,
      posts: this.#posts,
      delivered,
      pieces: this.#slots.flatMap((slot) => (slot.id === null ? [] : [{ id: slot.id, text: slot.frozen ?? this.#activeView.body }])),
    };
  }

  // ---- layout -------------------------------------------------------------

  #ensureSlot(): void {
    if (this.#slots.length === 0) this.#slots.push(newSlot());
  }

  /** The active message's view around a body. */
  #viewOf(body: string): MessageView {
    const streaming = this.#phase === 'streaming';
    const view: MessageView = {
      body,
      streaming,
      status: streaming ? this.#status : null,
      footer: streaming ? null : this.#footer,
      endLine: streaming ? null : this.#endLine,
      final: !streaming,
    };
    if (!streaming && this.#sources.length > 0) view.sources = this.#sources;
    if (!streaming && this.#images) view.images = this.#images;
    return view;
  }

  /** Characters the surface adds around the active message's body (cursor, status, footer, end line). */
  #overhead(): number {
    const probe = 'x';
    return Math.max(0, this.#format(this.#viewOf(probe)).length - probe.length) + 1;
  }

  #mayNeedSplit(): boolean {
    const sourceLength = this.#tailPrefix.length + this.#text.length - this.#tailStart;
    return sourceLength + CLOSE_FENCE_MAX + this.#overhead() > this.#surface.maxMessageLength;
  }

  /** Splits off full messages and computes what the active message should show. */
  #layout(): void {
    if (this.#mode !== 'edit') return;
    this.#ensureSlot();
    const limit = Math.max(MIN_SPLIT_LENGTH, this.#surface.maxMessageLength - this.#overhead());
    const source = this.#tailPrefix + this.#text.slice(this.#tailStart);
    const pieces = splitMessagePieces(source, limit);
    const last = pieces.at(-1);
    if (last && pieces.length > 1) {
      let slot = this.#slots.at(-1)!;
      for (const piece of pieces.slice(0, -1)) {
        slot.frozen = piece.text;
        slot.frozenText = this.#format({ body: piece.text, streaming: false, status: null, footer: null, endLine: null, final: false });
        slot = newSlot();
        this.#slots.push(slot);
      }
      this.#tailStart += last.start - this.#tailPrefix.length;
      this.#tailPrefix = last.open;
    }
    this.#activeHasAnswer = last !== undefined;
    this.#activeView = this.#viewOf(last ? last.text.trimEnd() : '');
    this.#activeDisplay = this.#format(this.#activeView);
  }

  #wanted(slot: Slot): Wanted {
    if (slot.frozen !== null) {
      return { text: slot.frozenText, actions: false, view: { body: slot.frozen, streaming: false, status: null, footer: null, endLine: null, final: false } };
    }
    return { text: this.#activeDisplay, actions: this.#actions.length > 0 && this.#phase === 'streaming', view: this.#activeView };
  }

  #nextSlot(): Slot | null {
    for (const slot of this.#slots) {
      if (slot.id === null) return slot;
      const wanted = this.#wanted(slot);
      if (slot.shown !== wanted.text || slot.shownActions !== wanted.actions) return slot;
    }
    return null;
  }

  // ---- the loop -------------------------------------------------------------

  #kick(): void {
    if (this.#pump) {
      this.#notify();
      return;
    }
    this.#pump = this.#runPump()
      .catch((error: unknown) => {
        this.#log.error({ err: error }, 'renderer loop failed');
        this.#stop(error);
      })
      .finally(() => {
        this.#pump = null;
      });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #urgent(): void {
    this.#paceAbort?.abort();
    this.#notify();
  }

  async #runPump(): Promise<void> {
    while (!this.#stopped && this.#mode === 'edit') {
      this.#layout();
      const slot = this.#nextSlot();
      if (!slot) {
        if (this.#phase !== 'streaming') return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        continue;
      }
      const wait = this.#paceWait(slot);
      if (wait > 0) {
        await this.#pace(wait);
        continue;
      }
      await this.#write(slot);
    }
  }

  /** Progress edits of the streaming message are spread out; first text, splits and the end are not. */
  #paceWait(slot: Slot): number {
    if (this.#phase !== 'streaming' || slot.frozen !== null || slot.id === null || !slot.shownAnswer) return 0;
    if (this.#lastProgressAt === null) return 0;
    return this.#lastProgressAt + this.#minEditIntervalMs - this.#clock.now();
  }

  async #pace(ms: number): Promise<void> {
    const controller = new AbortController();
    this.#paceAbort = controller;
    try {
      await this.#clock.sleep(ms, controller.signal);
    } catch {
      // interrupted by a split or the end
    } finally {
      this.#paceAbort = null;
    }
  }

  /** Brings one message up to date, retrying; stops the renderer when that fails for good. */
  async #write(slot: Slot): Promise<void> {
    let failures = 0;
    let rateLimits = 0;
    for (;;) {
      try {
        await this.#budget.run(this.#surface.budgetKey, this.#surface.rateLimit, () => this.#call(slot));
        return;
      } catch (error) {
        if (error instanceof MessageGoneError) {
          this.#markGone(error);
          return;
        }
        if (error instanceof PlatformRateLimitError) {
          // The budget now holds the whole channel for retry-after; the next run waits for it.
          rateLimits += 1;
          this.#onRateLimited?.(error.retryAfterMs);
          this.#log.debug({ retryAfterMs: error.retryAfterMs }, 'rate limited; waiting');
          if (rateLimits <= MAX_RATE_LIMIT_RETRIES) continue;
        } else {
          failures += 1;
          if (failures < this.#maxAttempts) {
            const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
            this.#log.warn({ err: error, attempt: failures, delayMs: delay }, 'message update failed; retrying');
            await this.#clock.sleep(delay);
            continue;
          }
          if (slot.id !== null && !slot.reposted) {
            // An edit the platform keeps refusing (e.g. Slack's msg_too_long) must not leave the
            // answer stuck on "thinking": its text goes to a fresh message instead, once.
            this.#log.warn({ err: error, messageId: slot.id }, 'message cannot be updated; posting the answer as a new message');
            await this.#deleteQuietly(slot.id);
            Object.assign(slot, { id: null, shown: null, shownActions: false, shownAnswer: false, reposted: true });
            failures = 0;
            continue;
          }
        }
        this.#log.error({ err: error }, 'message update failed for good; giving up on this answer');
        this.#stop(error);
        return;
      }
    }
  }

  /** Best effort: a stuck message that stays would still say "thinking" with a Stop button. */
  async #deleteQuietly(messageId: string): Promise<void> {
    const remove = this.#surface.delete?.bind(this.#surface);
    if (!remove) return;
    try {
      await this.#budget.run(this.#surface.budgetKey, this.#surface.rateLimit, () => remove(messageId));
    } catch (error) {
      this.#log.warn({ err: error, messageId }, 'could not delete the stuck message');
    }
  }

  /** The platform call itself, run inside the budget so it reads the latest text. */
  async #call(slot: Slot): Promise<void> {
    this.#layout();
    const wanted = this.#wanted(slot);
    const options: PostOptions =
      this.#actions.length > 0 ? { actions: wanted.actions ? this.#actions : [], view: wanted.view } : { view: wanted.view };
    const isActive = slot.frozen === null;
    if (slot.id === null) {
      const posted = await this.#surface.post(wanted.text, options);
      slot.id = posted.id;
      this.#posts += 1;
    } else {
      if (slot.shown === wanted.text && slot.shownActions === wanted.actions) return;
      await this.#surface.edit(slot.id, wanted.text, options);
      this.#edits += 1;
    }
    slot.shown = wanted.text;
    slot.shownActions = wanted.actions;
    if (!isActive || this.#activeHasAnswer) slot.shownAnswer = true;
    if (isActive && this.#activeHasAnswer) this.#lastProgressAt = this.#clock.now();
    if (slot === this.#slots[0] && this.#firstPost) {
      this.#firstPost.resolve();
      this.#firstPost = null;
    }
  }

  #markGone(error: unknown): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#log.info({ err: error }, 'answer message is gone; stopping');
    this.#stop(error);
    try {
      this.#onGone?.();
    } catch (callbackError) {
      this.#log.error({ err: callbackError }, 'onGone threw');
    }
  }

  #stop(error: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#nativeQueue = '';
    this.#urgent();
    if (this.#firstPost) {
      this.#firstPost.reject(error);
      this.#firstPost = null;
    }
  }

  #stopError(): Error {
    return this.#gone ? new MessageGoneError() : new Error('the answer message could not be posted');
  }

  // ---- native streaming --------------------------------------------------------

  #kickNative(): void {
    this.#nativeRun ??= this.#runNative().finally(() => {
      this.#nativeRun = null;
    });
  }

  async #runNative(): Promise<void> {
    while (this.#nativeQueue !== '' && this.#mode === 'native' && !this.#stopped) {
      const chunk = this.#nativeQueue;
      this.#nativeQueue = '';
      const stream = this.#native!;
      try {
        await this.#nativeCall(() => stream.append(chunk));
      } catch (error) {
        this.#nativeFailed(error);
        return;
      }
    }
  }

  /** A native stream that shows a status (Slack's thinking line) gets it; best effort, never in the text's way. */
  #nativeStatus(): void {
    const stream = this.#native;
    if (!stream?.status || this.#ended) return;
    stream.status(this.#status).catch((error: unknown) => this.#log.debug({ err: error }, 'native stream status not shown'));
  }

  async #nativeCall(fn: () => Promise<void>): Promise<void> {
    for (let rateLimits = 0; ; rateLimits++) {
      try {
        await fn();
        return;
      } catch (error) {
        if (!(error instanceof PlatformRateLimitError)) throw error;
        this.#onRateLimited?.(error.retryAfterMs);
        if (rateLimits >= MAX_RATE_LIMIT_RETRIES) throw error;
        await this.#clock.sleep(error.retryAfterMs);
      }
    }
  }

  #nativeFailed(error: unknown): void {
    if (error instanceof MessageGoneError) {
      this.#markGone(error);
      return;
    }
    this.#log.warn({ err: error }, 'native stream failed; posting and editing the full text instead');
    this.#mode = 'edit';
    this.#native = null;
    this.#nativeQueue = '';
    this.#ensureSlot();
    this.#kick();
  }

  /** Ends a native stream; null when it fell back to post/edit (the caller finishes that way). */
  async #endNative(phase: Phase): Promise<RenderResult | null> {
    while (this.#nativeRun) await this.#nativeRun;
    if (this.#mode !== 'native') return null;
    const stream = this.#native!;
    if (!this.#stopped) {
      try {
        await this.#nativeCall(() => stream.stop(this.#streamEnd(phase)));
        return { messageIds: [], edits: 0, posts: 0, delivered: true, pieces: this.#nativePieces(stream) };
      } catch (error) {
        this.#nativeFailed(error);
        if (this.#mode !== 'native') return null;
      }
    }
    return { messageIds: [], edits: 0, posts: 0, delivered: false, pieces: this.#nativePieces(stream) };
  }

  #streamEnd(phase: Phase): StreamEnd {
    const end: StreamEnd = { footer: this.#footer, endLine: phase === 'failed' ? this.#endLine : null };
    if (this.#sources.length > 0) end.sources = this.#sources;
    if (this.#images) end.images = this.#images;
    return end;
  }

  /** A natively streamed answer's messages: its whole text is recorded under the first. */
  #nativePieces(stream: NativeStream): Array<{ id: string; text: string }> {
    const ids = stream.messageIds?.() ?? [];
    return ids.map((id, index) => ({ id, text: index === 0 ? this.#text : '' }));
  }
}

function emptyView(): MessageView {
  return { body: '', streaming: true, status: null, footer: null, endLine: null, final: false };
}

function newSlot(): Slot {
  return { id: null, shown: null, shownActions: false, shownAnswer: false, frozen: null, frozenText: '', reposted: false };
}
