/**
 * The operations listener (METRICS_PORT): /healthz for load balancers and
 * orchestrators, /metrics for Prometheus. node:http only; nothing else is served.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock, type ChatAdapter } from '../core/types.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';

export interface HealthDeps {
  adapters: readonly Pick<ChatAdapter, 'platform' | 'connected'>[];
  store: { ping(): Promise<void> };
  /** True once shutdown began: report unhealthy so load balancers move traffic away. */
  draining?: () => boolean;
  /** A store that has not answered after this long counts as down. */
  pingTimeoutMs?: number;
  /**
   * One store probe serves every /healthz for this long (default 1 s), so a
   * flood of health checks cannot take the database pool from the answers.
   */
  probeCacheMs?: number;
  clock?: Clock;
}

export interface HealthReport {
  ok: boolean;
  /** Each part: 'up', or 'down: <fixed reason>'. */
  platforms: Record<string, string>;
  /** 'up', 'down: timeout' or 'down: query failed'; never the error text, which can name hosts and users. */
  store: string;
  draining: boolean;
  /** The parts that are down, for a quick read. */
  down: string[];
}

type StoreState = 'up' | 'down: timeout' | 'down: query failed';

/**
 * The store probe behind /healthz: at most one ping starts per `probeCacheMs`,
 * and none while an earlier one still hangs. The raw error goes to the log
 * only; the answer says which part failed and a fixed reason.
 */
function createStoreProbe(deps: HealthDeps, logger: Logger): () => Promise<StoreState> {
  const clock = deps.clock ?? systemClock;
  const cacheMs = deps.probeCacheMs ?? 1000;
  const timeoutMs = deps.pingTimeoutMs ?? 2000;
  let last: { at: number; state: Promise<StoreState>; settled: boolean } | undefined;
  let hanging = false;

  const probe = async (): Promise<StoreState> => {
    hanging = true;
    const ping = deps.store.ping().then(
      () => 'up' as const,
      (error: unknown) => {
        logger.warn({ err: error }, 'health check: the store ping failed');
        return 'down: query failed' as const;
      },
    );
    void ping.finally(() => (hanging = false));
    const stop = new AbortController();
    const timeout = clock.sleep(timeoutMs, stop.signal).then(
      () => {
        logger.warn({ timeoutMs }, 'health check: the store did not answer in time');
        return 'down: timeout' as const;
      },
      () => 'up' as const,
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      stop.abort();
    }
  };

  return () => {
    const now = clock.now();
    if (last && (now - last.at < cacheMs || !last.settled)) return last.state;
    // A ping that outlived its timeout still holds a connection: do not queue another behind it.
    const entry = { at: now, state: hanging ? Promise.resolve<StoreState>('down: timeout') : probe(), settled: false };
    void entry.state.then(() => (entry.settled = true));
    last = entry;
    return entry.state;
  };
}

/** Builds the /healthz check; the store probe is shared by every request through it. */
export function createHealthCheck(deps: HealthDeps, logger: Logger): () => Promise<HealthReport> {
  const storeState = createStoreProbe(deps, logger);
  return async () => {
    const platforms: Record<string, string> = {};
    for (const adapter of deps.adapters) platforms[adapter.platform] = adapter.connected() ? 'up' : 'down: not connected';
    const store = await storeState();
    const draining = deps.draining?.() ?? false;
    const down = [
      ...Object.entries(platforms)
        .filter(([, state]) => state !== 'up')
        .map(([name]) => name),
      ...(store === 'up' ? [] : ['store']),
      ...(draining ? ['shutting down'] : []),
    ];
    return { ok: down.length === 0, platforms, store, draining, down };
  };
}

export interface OpsServer {
  readonly server: Server;
  address(): { host: string; port: number };
  close(): Promise<void>;
}

export async function startOpsServer(options: {
  port: number;
  host: string;
  health: HealthDeps;
  metrics: Metrics;
  logger: Logger;
}): Promise<OpsServer> {
  const { logger } = options;
  const checkHealth = createHealthCheck(options.health, logger);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'GET only\n');
      return;
    }
    const work =
      path === '/healthz'
        ? checkHealth().then((report) => send(report.ok ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`))
        : path === '/metrics'
          ? options.metrics.render().then((text) => send(200, options.metrics.contentType, text))
          : Promise.resolve(send(404, 'text/plain; charset=utf-8', 'not found: try /healthz or /metrics\n'));
    work.catch((error: unknown) => {
      logger.error({ err: error, path }, 'ops endpoint failed');
      if (!res.headersSent) send(500, 'text/plain; charset=utf-8', 'internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = () => {
    const a = server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  };
  logger.info(address(), 'metrics and health listening (/metrics, /healthz)');
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
