/**
 * The load balancer of docs/DEPLOY.md, small: round-robin over the bots'
 * SLACK_PORTs, on 127.0.0.1. With `healthIntervalMs` it also health-checks each
 * bot's `GET /healthz` (METRICS_PORT) and skips the ones that do not answer
 * 200, as nginx, HAProxy or a cloud balancer would; a bot that refuses the
 * connection is skipped too and the request goes to the next one (nothing of
 * it was received). Used by the fleet test (test/ops/multi-process.test.ts)
 * and `npm run bench -- --fleet` (bench/fleet.ts).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Backend {
  /** Where requests go (the bot's SLACK_PORT). */
  port: number;
  /** The bot's `/healthz` (on its METRICS_PORT); checked only with `healthIntervalMs`. */
  healthUrl?: string;
}

export interface Balancer {
  readonly server: Server;
  readonly url: string;
  /** Whether the balancer currently sends requests to each backend, in order. */
  up(): boolean[];
  /** The backend the next request goes to (if it accepts the connection), or undefined when none is up. */
  peek(): number | undefined;
  /** How many requests each backend was sent, in order. */
  readonly sent: number[];
  close(): Promise<void>;
}

export async function startBalancer(backends: readonly Backend[], options: { healthIntervalMs?: number } = {}): Promise<Balancer> {
  const up = backends.map(() => true);
  const sent = backends.map(() => 0);
  let next = 0;

  /** The next backend in turn that is up and not in `skip`, or undefined when none is. */
  const peek = (skip: ReadonlySet<number> = new Set()): number | undefined => {
    for (let i = 0; i < backends.length; i++) {
      const candidate = (next + i) % backends.length;
      if (up[candidate] && !skip.has(candidate)) return candidate;
    }
    return undefined;
  };
  const pick = (skip: ReadonlySet<number>): number | undefined => {
    const index = peek(skip);
    if (index !== undefined) next = index + 1;
    return index;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, tried: Set<number>) => {
    const index = pick(tried);
    if (index === undefined) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy backend\n');
      return;
    }
    tried.add(index);
    sent[index]! += 1;
    const upstream = httpRequest({ host: '127.0.0.1', port: backends[index]!.port, method: req.method, path: req.url, headers: req.headers }, (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') {
        // Nothing reached the backend: take it out until its health check passes again, try the next.
        sent[index]! -= 1;
        if (options.healthIntervalMs !== undefined) up[index] = false;
        forward(req, res, body, tried);
        return;
      }
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => forward(req, res, Buffer.concat(chunks), new Set()));
  });

  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  let closed = false;
  if (options.healthIntervalMs !== undefined) {
    const check = async () => {
      await Promise.all(
        backends.map(async (backend, i) => {
          if (backend.healthUrl === undefined) return;
          up[i] = await fetch(backend.healthUrl, { signal: AbortSignal.timeout(2000) }).then(
            async (r) => {
              await r.body?.cancel();
              return r.status === 200;
            },
            () => false,
          );
        }),
      );
    };
    await check();
    const loop = () => {
      checking = check().finally(() => {
        checking = undefined;
        if (!closed) timer = setTimeout(loop, options.healthIntervalMs);
      });
    };
    timer = setTimeout(loop, options.healthIntervalMs);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    up: () => [...up],
    peek: () => peek(),
    sent,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await checking;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
