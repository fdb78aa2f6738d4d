/**
 * The interfaces the core owns. Adapters (Discord, Slack, terminal) implement
 * them; the core never imports a platform SDK.
 */

import type { AnswerImages } from './answer-images.ts';
import type { AnswerFooter, AnswerSource, EndLine, MessageView } from './answer-view.ts';
import type { AnswerProgress } from './progress.ts';

export { systemClock, type Clock } from '../util/clock.ts';

/** A button under a streaming answer. */
export interface MessageAction {
  /** allow / deny: a tool waiting for the asker's go-ahead (see approvals.ts). */
  id: 'stop' | 'retry' | 'allow' | 'deny';
  label: string;
}

export interface PostOptions {
  /** Buttons to show (an empty list removes them on edit). */
  actions?: MessageAction[];
  /**
   * The message as data: the text passed beside it is `surface.format(view)`
   * (or formatAnswerText's when the surface has no format). Surfaces that show
   * more than text (Slack blocks, Discord's Retry on the finished answer) read
   * the view, never the text.
   */
  view?: MessageView;
}

export interface PostedMessage {
  id: string;
  /**
   * A serialisable reference the adapter can later use to edit this message
   * from another process (ChatAdapter.markInterrupted), e.g. JSON
   * {channelId, messageId}. Optional: without it a crash leaves the message as is.
   */
  ref?: string;
}

/** A platform asked us to slow down. */
export class PlatformRateLimitError extends Error {
  constructor(
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(`rate limited; retry after ${retryAfterMs} ms`, options);
    this.name = 'PlatformRateLimitError';
  }
}

/** The message is gone (deleted) or can no longer be edited; the renderer stops and the request is aborted. */
export class MessageGoneError extends Error {
  constructor(message = 'message is gone', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MessageGoneError';
  }
}

/**
 * Where an answer is shown: a channel, thread or terminal. The renderer posts,
 * edits and splits through it.
 */
export interface MessageSurface {
  /** Longest text one message may hold. */
  readonly maxMessageLength: number;
  /**
   * Edits/posts allowed per window for this surface's channel, shared by every
   * message in it (e.g. 5 per 5000 ms on Discord).
   */
  readonly rateLimit: { count: number; windowMs: number };
  /** Key shared by every surface in the same channel: one budget per key. */
  readonly budgetKey: string;
  /**
   * The platform's text for a message view (what post/edit receive as text);
   * the renderer measures decorations with it to split long answers. Default:
   * formatAnswerText (answer-view.ts).
   */
  format?(view: MessageView): string;
  /** Throw PlatformRateLimitError on a 429, MessageGoneError when the target is gone. */
  post(text: string, options?: PostOptions): Promise<PostedMessage>;
  edit(messageId: string, text: string, options?: PostOptions): Promise<void>;
  /** Optional: removes a message the renderer gave up on (one that refuses every edit). */
  delete?(messageId: string): Promise<void>;
  /**
   * Optional native streaming (the terminal, Slack's chat.appendStream): the
   * renderer appends deltas instead of editing. Falls back to post/edit when
   * absent or when it throws.
   */
  stream?(): NativeStream;
  /**
   * Optional: the answer's progress as data (a tool running, a web search;
   * null when that step ended), for platforms that show it beside the
   * message (Slack's assistant thread status). The status line shows it anyway.
   */
  progress?(step: AnswerProgress | null): void;
}

/** How a natively streamed answer ends: footer fields and, when it did not end normally, the end line. */
export interface StreamEnd {
  footer: AnswerFooter | null;
  endLine: EndLine | null;
  /** Sources the answer cites (web search), listed under it. */
  sources?: readonly AnswerSource[];
  /** Pictures the model returned (see MessageView.images). */
  images?: AnswerImages;
}

export interface NativeStream {
  append(text: string): Promise<void>;
  /** Finishes the message; the surface formats the footer and end line below the text. */
  stop(end: StreamEnd): Promise<void>;
  /**
   * Optional: the answer's transient status line beside the stream ("🔎
   * searching…", a thinking model's seconds, a tool in use); null clears it.
   * Best effort; the renderer ignores its failures.
   */
  status?(text: string | null): Promise<void>;
  /** Like PostedMessage.ref, for the message being streamed; undefined until it exists. */
  ref?(): string | undefined;
  /** Ids of the messages this stream wrote, in order (an answer records its text under them). */
  messageIds?(): string[];
}

/** A chat platform served by the bot (Discord, Slack). */
export interface ChatAdapter {
  readonly platform: string;
  start(): Promise<void>;
  /** Stops taking events and closes connections. */
  stop(): Promise<void>;
  /** Connected to the platform right now (health checks). */
  connected(): boolean;
  /**
   * Posts a plain notice (e.g. a budget alert) to a channel, with mentions
   * turned off. Optional: platforms without it cannot receive such notices.
   */
  postToChannel?(channelId: string, text: string): Promise<void>;
  /**
   * Ends a message a dead process left half-written (crash recovery): shows
   * `ending.body` (the answer's clean text as last recorded; null when none
   * was recorded, then the message keeps no answer text) followed by
   * `ending.note`, buttons removed, no mentions. `ref` is a PostedMessage.ref
   * this adapter made. Harmless when repeated.
   */
  markInterrupted?(ref: string, ending: { body: string | null; note: string }): Promise<void>;
}
