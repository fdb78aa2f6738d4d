/**
 * `npm run discord:proxy`: one proxy in front of Discord's REST API, shared by
 * every bot process of a fleet (each sets DISCORD_API_URL to it). Discord's
 * rate limits are per bot token, not per process: with one proxy queueing
 * every request (@discordjs/rest's queues, @discordjs/proxy's response
 * handling), the buckets and the global limit are tracked in one place, so N
 * processes never make Discord answer 429 where one would not. Interaction
 * endpoints skip the global limit, as on Discord (discord-proxy-routes.ts).
 * The bot's token travels in each request's Authorization header; the proxy
 * holds none of its own and logs no header.
 *
 * Environment: DISCORD_PROXY_PORT (8080), DISCORD_PROXY_HOST (127.0.0.1),
 * DISCORD_PROXY_UPSTREAM (Discord's own API, https://discord.com/api; a fake
 * in tests), LOG_LEVEL. GET /healthz answers 200; SIGTERM and SIGINT stop it
 * after the requests in flight.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { populateErrorResponse, populateSuccessfulResponse } from '@discordjs/proxy';
// The ESM build, as @discordjs/proxy imports it: discord.js (CommonJS) re-exports
// the CommonJS build, whose error classes the proxy's instanceof checks do not
// recognise, so Discord's own errors (404, 10062…) would not be passed through.
import { REST, type RequestMethod } from '@discordjs/rest';
import type { Logger } from 'pino';
import { z } from 'zod';
import { createLogger } from '../log.ts';
import { classifyRoute, InteractionTokens } from './discord-proxy-routes.ts';

const DISCORD_API = 'https://discord.com/api';

const proxyEnv = z.object({
  DISCORD_PROXY_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  DISCORD_PROXY_HOST: z.string().min(1).default('127.0.0.1'),
  DISCORD_PROXY_UPSTREAM: z.url({ protocol: /^https?$/ }).default(DISCORD_API),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ProxyConfig = z.infer<typeof proxyEnv>;

/** The proxy's settings, or a message naming each bad variable. */
export function parseProxyEnv(env: Record<string, string | undefined>): ProxyConfig {
  const parsed = proxyEnv.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new Error(`discord proxy configuration:\n  ${lines.join('\n  ')}`);
}

export interface DiscordProxy {
  server: Server;
  /** Requests answered, by status code (429s here mean the upstream limited us). */
  responses: Map<number, number>;
  close(): Promise<void>;
}

/** Request headers passed on to Discord (the bot's token among them; never logged). */
const FORWARDED_HEADERS = ['content-type', 'authorization', 'x-audit-log-reason'] as const;
/** At most one "queueing" warning per route and kind this often; the others are counted in the next one. */
const RATE_LIMIT_LOG_INTERVAL_MS = 5_000;

/**
 * Two REST queues towards Discord: `bot` for everything under the bot's global
 * limit, `interactions` for the interaction endpoints Discord exempts from it
 * (see discord-proxy-routes.ts). Both keep per-route buckets. Neither retries:
 * the bot's own client decides whether to send a request again, and a second
 * copy of a callback whose first one landed can only be refused.
 */
function createQueues(config: ProxyConfig, logger: Logger): Record<'bot' | 'interactions', REST> {
  // The API base without a version: the route below /api/vN is forwarded and REST adds /v10.
  const api = config.DISCORD_PROXY_UPSTREAM.replace(/\/+$/, '');
  const bot = new REST({ api, version: '10', retries: 0 });
  const interactions = new REST({ api, version: '10', retries: 0, globalRequestsPerSecond: Number.POSITIVE_INFINITY });
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  for (const rest of [bot, interactions]) {
    // Every request waiting for a bucket reports each time it wakes: one line per route and kind per interval.
    rest.on('rateLimited', (info) => {
      const key = `${info.global ? 'global' : 'route'} ${info.method} ${info.route}`;
      const now = Date.now();
      const last = lastLogged.get(key);
      if (last && now - last.at < RATE_LIMIT_LOG_INTERVAL_MS) {
        last.suppressed += 1;
        return;
      }
      lastLogged.set(key, { at: now, suppressed: 0 });
      logger.warn(
        { route: info.route, method: info.method, retryAfterMs: info.retryAfter, global: info.global, scope: info.scope, moreSinceLast: last?.suppressed ?? 0 },
        'discord rate limit reached; queueing',
      );
    });
  }
  return { bot, interactions };
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : Buffer.concat(chunks);
}

/**
 * Forwards one request through the queue its route belongs in. When the bot
 * gives up on it (its connection closes first), the request leaves the queue
 * unsent, or stops waiting for Discord's answer if already sent: the bot will
 * send its own retry, and a forgotten copy sent later would only add to the
 * queue and arrive twice.
 */
function createForwarder(queues: Record<'bot' | 'interactions', REST>, logger: Logger) {
  const tokens = new InteractionTokens();
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const fullRoute = url.pathname.replace(/^\/api(\/v\d+)?/, '') as `/${string}`;
    const kind = classifyRoute(fullRoute, req.headers.authorization !== undefined, tokens);
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    let failure: { error: unknown } | undefined;
    try {
      const body = await readBody(req);
      const answer = await queues[kind === 'bot' ? 'bot' : 'interactions'].queueRequest({
        fullRoute,
        method: (req.method ?? 'GET') as RequestMethod,
        query: url.searchParams,
        headers,
        // The bot's own Authorization header travels in `headers`; the proxy holds no token.
        auth: false,
        body,
        passThroughBody: true,
        signal: gone.signal,
      });
      await populateSuccessfulResponse(res, answer);
    } catch (error) {
      if (gone.signal.aborted) logger.debug({ method: req.method, route: kind }, 'discord proxy: the client gave up before the answer');
      else if (!populateErrorResponse(res, error)) failure = { error };
    }
    // Not Discord's answer: the caller answers 502 (the response must still be open for that).
    if (failure) throw failure.error instanceof Error ? failure.error : new Error(String(failure.error));
    if (!res.writableEnded) res.end();
  };
}

export async function startDiscordProxy(config: ProxyConfig, logger: Logger): Promise<DiscordProxy> {
  const forward = createForwarder(createQueues(config, logger), logger);
  const responses = new Map<number, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.on('finish', () => responses.set(res.statusCode, (responses.get(res.statusCode) ?? 0) + 1));
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    forward(req, res).catch((error: unknown) => {
      // Not Discord's answer (it passes those through): the upstream is unreachable or the request broke.
      logger.error({ err: error, method: req.method, path: req.url?.split('?')[0] }, 'discord proxy request failed');
      if (res.writableEnded) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Switchboard discord proxy: upstream request failed', code: 0 }));
    });
  });
  // Bots keep connections to the proxy open between bursts: idle sockets must
  // be closed by the client, not here, or a request sent as the server closes
  // its socket fails ("other side closed") and its retry finds the
  // interaction already acknowledged.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.DISCORD_PROXY_PORT, config.DISCORD_PROXY_HOST, () => resolve());
  });
  return {
    server,
    responses,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function main(): Promise<void> {
  let config: ProxyConfig;
  try {
    config = parseProxyEnv(process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: false }).child({ component: 'discord-proxy' });
  const proxy = await startDiscordProxy(config, logger);
  // One process carries every bot's Discord traffic: its event-loop delay tells whether it keeps up.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const address = proxy.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.DISCORD_PROXY_PORT;
  logger.info({ host: config.DISCORD_PROXY_HOST, port, upstream: config.DISCORD_PROXY_UPSTREAM }, 'discord proxy listening');
  const stop = (signal: string) => {
    const eventLoopMs = { p99: Math.round(loop.percentile(99) / 1e4) / 100, max: Math.round(loop.max / 1e4) / 100 };
    logger.info({ signal, responses: Object.fromEntries(proxy.responses), eventLoopMs }, 'discord proxy stopping');
    void proxy.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    process.stderr.write(`discord proxy failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
