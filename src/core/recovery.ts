/**
 * Crash safety. Every process heartbeats into the store; each answer is
 * tracked from its reservation until it settles, with a reference to the
 * message it is shown in. When a process dies (SIGKILL, OOM, power), another
 * one sees its heartbeat go stale, frees its reservations, writes one
 * 'interrupted' ledger row per answer it left unfinished and has the adapter
 * mark those messages.
 */
import type { Logger } from '../log.ts';
import type { ActiveAnswer, LedgerEntry } from '../store/types.ts';
import type { Core } from './core.ts';
import type { ChatAdapter, MessageSurface, NativeStream, PostedMessage } from './types.ts';

/** The line added under an answer its process did not live to finish. */
export const INTERRUPTED_NOTE = '⚠️ (interrupted: the bot restarted)';

/** An owner is dead after this many heartbeat intervals without one. */
export const STALE_HEARTBEATS = 3;

/** How long one markInterrupted may take before the ledger row is written without it. */
const MARK_TIMEOUT_MS = 30_000;

/**
 * The text a half-written message ends up with: the answer's clean text as
 * last recorded (none when null), then `note`, cut to fit `maxLength`.
 */
export function interruptedText(body: string | null, note: string, maxLength: number): string {
  const text = (body ?? '').trimEnd();
  if (text === '') return note.slice(0, maxLength);
  const separator = '\n\n';
  const room = maxLength - note.length - separator.length;
  const kept = text.length > room ? `${text.slice(0, Math.max(0, room - 1))}…` : text;
  return `${kept}${separator}${note}`;
}

/** What the pipeline hands to trackAnswer. */
export type TrackedAnswer = Pick<ActiveAnswer, 'requestId' | 'platform' | 'workspaceId' | 'channelId' | 'userId' | 'model'>;

export interface AnswerTracker {
  /** Delegates to `inner` and records the latest message it shows (where the answer ends). */
  surface(inner: MessageSurface): MessageSurface;
}

/**
 * Records a reserved answer in the store (settle() removes it). Bookkeeping
 * only: a failure is logged and never fails the answer.
 */
export async function trackAnswer(core: Core, answer: TrackedAnswer, logger: Logger): Promise<AnswerTracker> {
  let tracked = true;
  try {
    await core.store.trackAnswer({
      ...answer,
      owner: core.instanceId,
      startedAt: new Date(core.clock.now()),
      messageRef: null,
      messageBody: null,
    });
  } catch (error) {
    tracked = false;
    logger.warn({ err: error }, 'could not record the answer for crash recovery');
  }
  let lastRef: string | undefined;
  let lastBody: string | undefined;
  /**
   * Where the answer is shown and its clean text so far, written on each post
   * and edit (the renderer already paces those to the platform's edit budget),
   * one write at a time: while one is in flight only the newest waits, so a
   * slow store never queues up stale text. A crash leaves the sweeper the text
   * without anyone re-reading our formatted output.
   */
  let inFlight = false;
  let next: { ref: string; body: string | undefined } | undefined;
  const flush = async () => {
    inFlight = true;
    while (next) {
      const { ref, body } = next;
      next = undefined;
      try {
        if (body === undefined) await core.store.setAnswerMessageRef(answer.requestId, ref);
        else await core.store.setAnswerProgress(answer.requestId, ref, body);
      } catch (error) {
        logger.warn({ err: error }, 'could not record the answer message for crash recovery');
      }
    }
    inFlight = false;
  };
  const record = (ref: string | undefined, body: string | undefined) => {
    if (!tracked || ref === undefined) return;
    if (ref === lastRef && (body === undefined || body === lastBody)) return;
    lastRef = ref;
    if (body !== undefined) lastBody = body;
    next = { ref, body: lastBody };
    if (!inFlight) void flush();
  };
  return {
    surface(inner) {
      const refs = new Map<string, string>();
      const surface: MessageSurface = {
        get maxMessageLength() {
          return inner.maxMessageLength;
        },
        get rateLimit() {
          return inner.rateLimit;
        },
        get budgetKey() {
          return inner.budgetKey;
        },
        async post(text, options): Promise<PostedMessage> {
          const posted = await inner.post(text, options);
          if (posted.ref !== undefined) refs.set(posted.id, posted.ref);
          record(posted.ref, options?.view?.body);
          return posted;
        },
        async edit(messageId, text, options) {
          await inner.edit(messageId, text, options);
          record(refs.get(messageId), options?.view?.body);
        },
      };
      if (inner.format) surface.format = inner.format.bind(inner);
      if (inner.delete) {
        const remove = inner.delete.bind(inner);
        surface.delete = (messageId) => remove(messageId);
      }
      if (inner.stream) {
        const open = inner.stream.bind(inner);
        surface.stream = () => trackedStream(open(), record);
      }
      return surface;
    },
  };
}

function trackedStream(inner: NativeStream, record: (ref: string | undefined, body: string | undefined) => void): NativeStream {
  let text = '';
  const check = () => record(inner.ref?.(), text);
  const stream: NativeStream = {
    async append(delta) {
      text += delta;
      try {
        await inner.append(delta);
      } finally {
        check();
      }
    },
    async stop(end) {
      try {
        await inner.stop(end);
      } finally {
        check();
      }
    },
    ref: () => inner.ref?.(),
  };
  if (inner.messageIds) stream.messageIds = inner.messageIds.bind(inner);
  if (inner.status) stream.status = inner.status.bind(inner);
  return stream;
}

/**
 * Takes over the answers of dead processes: asks each one's adapter to mark
 * its message, then writes its one 'interrupted' ledger row (usage unknown, so
 * 0 tokens and $0). Marking first means a sweeper that dies half way leaves the
 * rest to the next one; marking twice is harmless (markInterrupted checks for
 * the note). Returns how many answers it took.
 */
export async function sweepOrphans(core: Core, adapters: readonly ChatAdapter[]): Promise<number> {
  const { logger } = core;
  const staleMs = STALE_HEARTBEATS * core.config.instanceHeartbeatMs;
  const orphans = await core.store.takeOrphanedAnswers(staleMs, core.instanceId);
  if (orphans.length === 0) return 0;
  logger.warn({ answers: orphans.length }, 'a process died with answers running; marking them interrupted');
  const byPlatform = new Map(adapters.map((adapter) => [adapter.platform, adapter]));
  await Promise.all(
    orphans.map(async (answer) => {
      const log = logger.child({ requestId: answer.requestId, platform: answer.platform, channel: answer.channelId });
      const adapter = byPlatform.get(answer.platform);
      if (answer.messageRef !== null && adapter?.markInterrupted) {
        await markWithin(core, adapter.markInterrupted.bind(adapter), answer.messageRef, answer.messageBody).catch((error: unknown) => {
          log.warn({ err: error }, 'could not mark an interrupted answer');
        });
      }
      const entry: LedgerEntry = {
        requestId: answer.requestId,
        at: answer.startedAt,
        platform: answer.platform,
        workspaceId: answer.workspaceId,
        channelId: answer.channelId,
        userId: answer.userId,
        modelRequested: answer.model,
        modelAnswered: null,
        tokensIn: 0,
        tokensOut: 0,
        costUsd: 0,
        generationId: null,
        outcome: 'interrupted',
        errorKind: 'process-died',
      };
      try {
        await core.store.settle(answer.requestId, entry);
        log.info('answer left by a dead process settled as interrupted');
      } catch (error) {
        // Still ours in the store: if this process dies too, the next sweep takes it.
        log.error({ err: error }, 'could not settle an answer left by a dead process');
      }
    }),
  );
  return orphans.length;
}

async function markWithin(
  core: Core,
  mark: NonNullable<ChatAdapter['markInterrupted']>,
  ref: string,
  body: string | null,
): Promise<void> {
  const timeout = new AbortController();
  try {
    await Promise.race([
      mark(ref, { body, note: INTERRUPTED_NOTE }),
      core.clock.sleep(MARK_TIMEOUT_MS, timeout.signal).then(() => {
        throw new Error(`markInterrupted took longer than ${MARK_TIMEOUT_MS} ms`);
      }),
    ]);
  } finally {
    timeout.abort(new Error('done'));
  }
}

export interface Liveness {
  /** Sweeps now and then after every heartbeat; call once the adapters have started (they mark messages). */
  startSweeping(): Promise<void>;
  /** Stops heartbeating and sweeping; waits for a sweep in progress. */
  stop(): Promise<void>;
}

/**
 * Heartbeats now and every INSTANCE_HEARTBEAT_MS. Start it before the adapters
 * (so this process is known alive before it answers anything) and call
 * startSweeping() after.
 */
export function startLiveness(core: Core, adapters: readonly ChatAdapter[]): Liveness {
  const { logger, store, clock } = core;
  const intervalMs = core.config.instanceHeartbeatMs;
  const stopped = new AbortController();
  let sweeping = false;
  let sweep: Promise<void> | undefined;

  const beat = async () => {
    try {
      await store.heartbeat(core.instanceId);
    } catch (error) {
      logger.warn({ err: error }, 'could not record the heartbeat');
    }
  };
  const runSweep = (): Promise<void> => {
    // One sweep at a time; a tick that finds one running skips.
    sweep ??= sweepOrphans(core, adapters)
      .then(
        () => undefined,
        (error: unknown) => logger.error({ err: error }, 'sweeping answers left by dead processes failed'),
      )
      .finally(() => {
        sweep = undefined;
      });
    return sweep;
  };

  const first = beat();
  const loop = (async () => {
    await first;
    while (!stopped.signal.aborted) {
      try {
        await clock.sleep(intervalMs, stopped.signal);
      } catch {
        return;
      }
      await beat();
      if (sweeping && !stopped.signal.aborted) void runSweep();
    }
  })();

  return {
    async startSweeping() {
      await first;
      sweeping = true;
      await runSweep();
    },
    async stop() {
      stopped.abort(new Error('liveness stopped'));
      await loop;
      await sweep;
    },
  };
}
