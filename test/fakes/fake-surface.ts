/**
 * An in-process MessageSurface for core tests: one channel that records every
 * call with its time, enforces its own rate limit and message length (recording
 * a violation instead of trusting the caller), and can inject 429s, transient
 * failures, deleted messages and a native stream.
 */
import {
  MessageGoneError,
  PlatformRateLimitError,
  type Clock,
  type MessageAction,
  type MessageSurface,
  type NativeStream,
  type PostOptions,
  type PostedMessage,
} from '../../src/core/types.ts';
import { formatAnswerText, type AnswerFooter, type EndLine, type MessageView } from '../../src/core/answer-view.ts';

export type FakeCallKind = 'post' | 'edit' | 'append' | 'stop';
export type FakeOutcome = 'ok' | 'rate-limited' | 'failed' | 'gone' | 'rejected';

export interface FakeCall {
  kind: FakeCallKind;
  messageId: string;
  text: string;
  actions: MessageAction[] | undefined;
  startedAt: number;
  at: number;
  outcome: FakeOutcome;
}

export interface FakeMessage {
  id: string;
  text: string;
  actions: MessageAction[];
  deleted: boolean;
  native: boolean;
  stopped: boolean;
  /** Every text the message showed, in order. */
  history: string[];
}

export interface FakeNativeOptions {
  /** The append after this many successful ones throws (a dead stream). */
  failAppendAfter?: number;
  /** stop() throws. */
  failStop?: boolean;
  /** surface.stream() itself throws. */
  failOpen?: boolean;
}

export interface FakeSurfaceOptions {
  /** How views become text (default: the core's plain formatting; renderer tests use fakeFormat's short footers). */
  format?: (view: MessageView) => string;
  maxMessageLength: number;
  rateLimit: { count: number; windowMs: number };
  budgetKey?: string;
  clock: Clock;
  /** Simulated time each call takes. */
  latencyMs?: number;
  /** The next n edits fail with a transient error, or a predicate deciding per edit. */
  failEdits?: number | ((call: { messageId: string; text: string; index: number }) => boolean);
  /** The next `calls` posts/edits answer 429 with this retry-after. */
  rateLimitNext?: { calls: number; retryAfterMs: number };
  /** A message is deleted right after its n-th successful edit. */
  deleteAfter?: number;
  native?: boolean | FakeNativeOptions;
}

export interface FakeSurface {
  surface: MessageSurface;
  calls: FakeCall[];
  /** Broken rules: rate limit exceeded, too long, blank, concurrent edits, calls during retry-after. */
  violations: string[];
  messages(): FakeMessage[];
  /** Current text of every message that is not deleted, in posting order. */
  texts(): string[];
  message(id: string): FakeMessage;
  failNextEdits(n: number): void;
  failNextPosts(n: number): void;
  rateLimitNext(calls: number, retryAfterMs: number): void;
  deleteMessage(id: string): void;
  /** Most edits/posts ever in flight to a single message at once. */
  maxInFlightPerMessage(): number;
}

/**
 * The fake's own formatting: the core's plain text, with a footer shown as
 * its `model` field alone, so tests can use short labels (foot('f')) as footers.
 */
export function fakeFormat(view: MessageView): string {
  return formatAnswerText(view, (footer) => footer.model);
}

/** A footer that the fake surface shows as `label`. */
export function foot(label: string): AnswerFooter {
  return { model: label, modelRequested: label, isFallback: false, tokensIn: 0, tokensOut: 0, costUsd: 0, ms: 0, trimmed: 0 };
}

/** An error end line. */
export function line(text: string): EndLine {
  return { kind: text.startsWith('⏹️') ? 'stopped' : 'error', text };
}

export function createFakeSurface(options: FakeSurfaceOptions): FakeSurface {
  const { clock, maxMessageLength, rateLimit } = options;
  const latencyMs = options.latencyMs ?? 0;
  const native: FakeNativeOptions | undefined =
    options.native === true ? {} : options.native === false ? undefined : options.native;
  const calls: FakeCall[] = [];
  const violations: string[] = [];
  const messages = new Map<string, FakeMessage>();
  const accepted: number[] = [];
  const inFlight = new Map<string, number>();
  let maxInFlight = 0;
  let nextId = 1;
  let editIndex = 0;
  let failEditsLeft = typeof options.failEdits === 'number' ? options.failEdits : 0;
  let failPostsLeft = 0;
  let rateLimitsLeft = options.rateLimitNext?.calls ?? 0;
  let retryAfterMs = options.rateLimitNext?.retryAfterMs ?? 0;
  let blockedUntil = 0;
  const editCounts = new Map<string, number>();

  const record = (call: Omit<FakeCall, 'at'>): void => {
    calls.push({ ...call, at: clock.now() });
  };

  /** Shared rules for post and edit; returns the outcome to throw, if any. */
  const admit = (text: string): Error | undefined => {
    const now = clock.now();
    if (now < blockedUntil) violations.push(`call at ${now} during retry-after (until ${blockedUntil})`);
    if (rateLimitsLeft > 0) {
      rateLimitsLeft -= 1;
      blockedUntil = now + retryAfterMs;
      return new PlatformRateLimitError(retryAfterMs);
    }
    if (text.length > maxMessageLength) {
      violations.push(`message of ${text.length} chars exceeds ${maxMessageLength}`);
      return new Error('message too long');
    }
    if (text.trim() === '') {
      violations.push('blank message');
      return new Error('cannot send an empty message');
    }
    return undefined;
  };

  const countAccepted = (): void => {
    const now = clock.now();
    accepted.push(now);
    const inWindow = accepted.filter((at) => at > now - rateLimit.windowMs).length;
    if (inWindow > rateLimit.count) {
      violations.push(`${inWindow} posts/edits within ${rateLimit.windowMs} ms at ${now} (limit ${rateLimit.count})`);
    }
  };

  const outcomeOf = (error: Error | undefined): FakeOutcome =>
    error === undefined
      ? 'ok'
      : error instanceof PlatformRateLimitError
        ? 'rate-limited'
        : error instanceof MessageGoneError
          ? 'gone'
          : error.message === 'transient failure'
            ? 'failed'
            : 'rejected';

  const enter = (id: string): void => {
    const count = (inFlight.get(id) ?? 0) + 1;
    inFlight.set(id, count);
    maxInFlight = Math.max(maxInFlight, count);
    if (count > 1) violations.push(`${count} calls in flight to message ${id}`);
  };
  const leave = (id: string): void => {
    inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
  };

  const getMessage = (id: string): FakeMessage => {
    const message = messages.get(id);
    if (!message) throw new Error(`fake surface: no message ${id}`);
    return message;
  };

  const surface: MessageSurface = {
    maxMessageLength,
    rateLimit,
    budgetKey: options.budgetKey ?? 'fake:channel',
    format: options.format ?? formatAnswerText,
    async post(text: string, postOptions?: PostOptions): Promise<PostedMessage> {
      const startedAt = clock.now();
      const id = `m${nextId++}`;
      enter(id);
      try {
        if (latencyMs > 0) await clock.sleep(latencyMs);
        let error = admit(text);
        if (!error && failPostsLeft > 0) {
          failPostsLeft -= 1;
          error = new Error('transient failure');
        }
        record({ kind: 'post', messageId: id, text, actions: postOptions?.actions, startedAt, outcome: outcomeOf(error) });
        if (error) throw error;
        countAccepted();
        messages.set(id, {
          id,
          text,
          actions: postOptions?.actions ?? [],
          deleted: false,
          native: false,
          stopped: false,
          history: [text],
        });
        return { id };
      } finally {
        leave(id);
      }
    },
    async edit(messageId: string, text: string, postOptions?: PostOptions): Promise<void> {
      const startedAt = clock.now();
      enter(messageId);
      try {
        if (latencyMs > 0) await clock.sleep(latencyMs);
        const message = getMessage(messageId);
        let error: Error | undefined = message.deleted ? new MessageGoneError() : admit(text);
        const index = editIndex++;
        if (!error) {
          const predicate = typeof options.failEdits === 'function' ? options.failEdits : undefined;
          if (failEditsLeft > 0 || predicate?.({ messageId, text, index })) {
            if (failEditsLeft > 0) failEditsLeft -= 1;
            error = new Error('transient failure');
          }
        }
        record({ kind: 'edit', messageId, text, actions: postOptions?.actions, startedAt, outcome: outcomeOf(error) });
        if (error) throw error;
        countAccepted();
        message.text = text;
        message.history.push(text);
        if (postOptions?.actions) message.actions = postOptions.actions;
        const edits = (editCounts.get(messageId) ?? 0) + 1;
        editCounts.set(messageId, edits);
        if (options.deleteAfter !== undefined && edits >= options.deleteAfter) message.deleted = true;
      } finally {
        leave(messageId);
      }
    },
  };

  if (native) {
    let appends = 0;
    surface.stream = (): NativeStream => {
      if (native.failOpen) throw new Error('streaming not available here');
      const id = `m${nextId++}`;
      const message: FakeMessage = {
        id,
        text: '',
        actions: [],
        deleted: false,
        native: true,
        stopped: false,
        history: [],
      };
      messages.set(id, message);
      let busy = false;
      const guard = async (kind: FakeCallKind, text: string, run: () => void): Promise<void> => {
        const startedAt = clock.now();
        if (busy) violations.push(`concurrent ${kind} on native stream ${id}`);
        busy = true;
        try {
          if (latencyMs > 0) await clock.sleep(latencyMs);
          let error: Error | undefined;
          if (message.deleted) error = new MessageGoneError();
          else if (message.stopped) error = new Error('stream already stopped');
          else if (kind === 'append' && native.failAppendAfter !== undefined && appends >= native.failAppendAfter) {
            error = new Error('message_not_in_streaming_state');
          } else if (kind === 'stop' && native.failStop) error = new Error('stop failed');
          record({ kind, messageId: id, text, actions: undefined, startedAt, outcome: error ? 'failed' : 'ok' });
          if (error) throw error;
          run();
        } finally {
          busy = false;
        }
      };
      return {
        append: (text) =>
          guard('append', text, () => {
            appends += 1;
            message.text += text;
            message.history.push(message.text);
          }),
        stop: (end) => {
          const footer = end.footer ? end.footer.model : '';
          const lines = end.endLine ? (end.endLine.kind === 'interrupted' ? [footer, end.endLine.text] : [end.endLine.text, footer]) : [footer];
          const tail = lines.filter((l) => l !== '').join('\n\n');
          return guard('stop', tail, () => {
            message.stopped = true;
            if (tail !== '') message.text += message.text === '' ? tail : `\n\n${tail}`;
            message.history.push(message.text);
          });
        },
        messageIds: () => [id],
      };
    };
  }

  return {
    surface,
    calls,
    violations,
    messages: () => [...messages.values()],
    texts: () => [...messages.values()].filter((m) => !m.deleted).map((m) => m.text),
    message: getMessage,
    failNextEdits: (n) => {
      failEditsLeft += n;
    },
    failNextPosts: (n) => {
      failPostsLeft += n;
    },
    rateLimitNext: (n, ms) => {
      rateLimitsLeft += n;
      retryAfterMs = ms;
    },
    deleteMessage: (id) => {
      getMessage(id).deleted = true;
    },
    maxInFlightPerMessage: () => maxInFlight,
  };
}
