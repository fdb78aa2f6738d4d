/**
 * The operations listener (METRICS_PORT): /healthz for load balancers and
 * orchestrators, /metrics for Prometheus. node:http only; nothing else is served.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatAdapter } from '../core/types.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';

export interface HealthDeps {
  adapters: readonly Pick<ChatAdapter, 'platform' | 'connected'>[];
  store: { ping(): Promise<void> };
  /** True once shutdown began: report unhealthy so load balancers move traffic away. */
  draining?: () => boolean;
  /** A store that has not answered after this long counts as down. */
  pingTimeoutMs?: number;
}

export interface HealthReport {
  ok: boolean;
  /** Each part: 'up', or why it is down. */
  platforms: Record<string, string>;
  store: string;
  draining: boolean;
  /** The parts that are down, for a quick read. */
  down: string[];
}

export async function checkHealth(deps: HealthDeps): Promise<HealthReport> {
  const platforms: Record<string, string> = {};
  for (const adapter of deps.adapters) platforms[adapter.platform] = adapter.connected() ? 'up' : 'down: not connected';
  let store = 'up';
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      deps.store.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${deps.pingTimeoutMs ?? 2000} ms`)), deps.pingTimeoutMs ?? 2000);
      }),
    ]);
  } catch (error) {
    store = `down: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    clearTimeout(timer);
  }
  const draining = deps.draining?.() ?? false;
  const down = [
    ...Object.entries(platforms)
      .filter(([, state]) => state !== 'up')
      .map(([name]) => name),
    ...(store === 'up' ? [] : ['store']),
    ...(draining ? ['shutting down'] : []),
  ];
  return { ok: down.length === 0, platforms, store, draining, down };
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
        ? checkHealth(options.health).then((report) => send(report.ok ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`))
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
