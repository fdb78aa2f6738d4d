/**
 * Stop across processes. The Stop button or /stop may reach any process (a
 * load balancer, Socket Mode), while the answer streams in one of them. The
 * store knows every running answer (active_answers: asker, owner), so the
 * process that got the press checks permission there and leaves a row in
 * stop_requests; each process looks for rows of its own answers every
 * STOP_POLL_MS while it has answers running (one indexed query), and stops them.
 *
 * A poll rather than PostgreSQL LISTEN/NOTIFY: it works the same on SQLite,
 * needs no connection held out of the pool per process (nor a session-mode
 * pooler), cannot miss a notification sent while a connection was being
 * re-established, and a few hundred ms is quick for a button.
 */
import type { Core } from './core.ts';

/** How often a process with answers running checks for Stop pressed elsewhere. */
export const STOP_POLL_MS = 300;

export interface StopFilter {
  platform: string;
  workspaceId: string;
  userId?: string;
  requestId?: string;
}

/**
 * Stops the matching answers running here at once, and asks the processes
 * running the others to stop them (they do within STOP_POLL_MS). Returns how
 * many answers were stopped or asked to stop.
 */
export async function stopAnywhere(core: Core, filter: StopFilter, stoppedBy: string): Promise<number> {
  const here = core.pipeline.stop(filter, stoppedBy);
  const tracked = await core.store.activeAnswers(filter);
  // Ours but not running yet (tracked a moment before it registers) is asked too: our own poll stops it.
  const elsewhere = tracked.filter((answer) => answer.owner !== core.instanceId || core.pipeline.ownerOf(answer.requestId) === undefined);
  if (elsewhere.length > 0) await core.store.requestStops(elsewhere.map((answer) => answer.requestId), stoppedBy);
  return here + elsewhere.length;
}

/** The asker of an answer running here or in another process; undefined once it has finished. */
export async function askerOf(core: Core, place: { platform: string; workspaceId: string }, requestId: string): Promise<string | undefined> {
  const local = core.pipeline.ownerOf(requestId);
  if (local !== undefined) return local;
  const [answer] = await core.store.activeAnswers({ platform: place.platform, workspaceId: place.workspaceId, requestId });
  return answer?.userId;
}

export interface StopPolling {
  stop(): Promise<void>;
}

/** Polls for stop requests of this process's answers while it has any running. */
export function startStopPolling(core: Core, intervalMs = STOP_POLL_MS): StopPolling {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let poll: Promise<void> | undefined;
  const tick = async () => {
    if (core.pipeline.running() === 0) return;
    const requests = await core.store.takeStopRequests(core.instanceId);
    for (const request of requests) {
      const count = core.pipeline.stop({ requestId: request.requestId }, request.requestedBy);
      core.logger.info({ requestId: request.requestId, stopped: count }, 'stop requested through another process');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      poll = tick()
        .catch((error: unknown) => core.logger.warn({ err: error }, 'could not check for stop requests'))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await poll;
    },
  };
}
