/**
 * Graceful shutdown for npm start: refuse new work, let running answers finish
 * for a grace period, interrupt the rest (they settle as 'interrupted'), then
 * stop the adapters, close the store and exit 0.
 */
import type { Core } from '../core/core.ts';
import type { ChatAdapter } from '../core/types.ts';
import type { Logger } from '../log.ts';

export interface ShutdownDeps {
  core: Pick<Core, 'pipeline'> & { draining: boolean };
  adapters: readonly Pick<ChatAdapter, 'platform' | 'stop'>[];
  /** How long running answers may go on (SHUTDOWN_GRACE_MS). */
  graceMs: number;
  logger: Logger;
  /** Closes everything else (ops server, store), after the adapters stopped. */
  close(): Promise<void>;
  exit?: (code: number) => void;
  /** After the interruption, stop waiting for answers to settle after this long. */
  settleTimeoutMs?: number;
}

export interface Shutdown {
  /** Starts the shutdown once; later calls return the same promise. */
  run(reason: string): Promise<void>;
  readonly started: boolean;
}

export function createShutdown(deps: ShutdownDeps): Shutdown {
  const { core, logger } = deps;
  const exit = deps.exit ?? ((code: number) => process.exit(code));
  let running: Promise<void> | undefined;

  const sequence = async (reason: string) => {
    core.draining = true;
    const pipeline = core.pipeline;
    logger.info({ reason, running: pipeline.running(), graceMs: deps.graceMs }, 'shutting down: no new requests; letting running answers finish');
    const finished = await within(pipeline.drain(), deps.graceMs);
    if (!finished) {
      const interrupted = pipeline.interrupt();
      logger.info({ interrupted }, 'grace period over: interrupting the answers still running');
      if (!(await within(pipeline.drain(), deps.settleTimeoutMs ?? 10_000))) {
        logger.warn('some answers did not settle in time; their reservations expire on their own');
      }
    }
    const stopped = await Promise.allSettled(deps.adapters.map((adapter) => adapter.stop()));
    stopped.forEach((result, i) => {
      if (result.status === 'rejected') logger.warn({ err: result.reason, platform: deps.adapters[i]?.platform }, 'adapter did not stop cleanly');
    });
    try {
      await deps.close();
    } catch (error) {
      logger.error({ err: error }, 'closing the store failed');
    }
    logger.info('stopped');
  };

  return {
    get started() {
      return running !== undefined;
    },
    run(reason) {
      running ??= sequence(reason).then(
        () => exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
      return running;
    },
  };
}

/** SIGTERM and SIGINT start the shutdown; a second signal while it runs exits at once. */
export function installSignalHandlers(shutdown: Shutdown, logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (shutdown.started) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      exit(1);
      return;
    }
    void shutdown.run(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** Whether `promise` settled within ms. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return result;
}
