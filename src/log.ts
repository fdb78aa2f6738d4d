/**
 * The root logger. JSON by default, pretty in a terminal during development.
 * Secrets are kept out three ways: known secret-bearing keys are redacted,
 * Discord REST errors lose their URL and request body, and every line is
 * scrubbed of the configured secret values and of secret-shaped text
 * (passwords in URLs, Discord interaction and webhook tokens) before it is written.
 */
import { Transform, type Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

const REDACT_PATHS = [
  'apiKey',
  'token',
  'authorization',
  'Authorization',
  'password',
  'secret',
  '*.apiKey',
  '*.token',
  '*.authorization',
  '*.Authorization',
  '*.password',
  '*.secret',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'headers.cookie',
];

export interface LoggerOptions {
  level: LevelWithSilent;
  pretty?: boolean;
  /** Secret values to scrub from every line, wherever they appear. */
  secrets?: readonly string[];
  /** Where lines go (default stdout). */
  destination?: Writable;
}

/**
 * Secrets by their shape, whatever the configuration: the password of any
 * `scheme://user:password@host` URL (DATABASE_URL in a driver error), and the
 * token in Discord's `/webhooks/<app>/<token>` and `/interactions/<id>/<token>`
 * paths, which lets anyone answer as the bot for 15 minutes.
 */
const SECRET_SHAPES: ReadonlyArray<[RegExp, string]> = [
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/"'\\]*):[^\s@/"'\\]+@/gi, '$1:[REDACTED]@'],
  [/(\/(?:webhooks|interactions)\/\d+\/)[\w.-]+/g, '$1[REDACTED]'],
];

/** Replaces each secret (and its bearer-header form), and secret-shaped text, with [REDACTED]. */
export function scrubSecrets(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const [shape, replacement] of SECRET_SHAPES) out = out.replace(shape, replacement);
  for (const secret of secrets) {
    if (secret.length < 6) continue;
    if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret && out.includes(escaped)) out = out.split(escaped).join('[REDACTED]');
  }
  return out;
}

/** The fields of a @discordjs/rest error (DiscordAPIError, HTTPError, RateLimitError) that carry tokens or message content. */
const DISCORD_REQUEST_FIELDS = ['url', 'requestBody', 'rawError'] as const;

/** Recognised by shape, so the logger needs no Discord import and any copy of @discordjs/rest matches. */
function isDiscordRestError(value: Record<string, unknown>): boolean {
  return typeof value.method === 'string' && typeof value.url === 'string' && ('requestBody' in value || 'rawError' in value || 'timeToReset' in value);
}

/**
 * Drops Discord's request fields from a serialized error and the errors
 * serialized inside it (causes kept as fields, aggregate errors). Only pino's
 * fresh copies are touched, never the objects the caller logged.
 */
function dropDiscordRequest(serialized: Record<string, unknown>, copyProto: object | null, depth = 0): void {
  if (isDiscordRestError(serialized)) for (const field of DISCORD_REQUEST_FIELDS) delete serialized[field];
  if (depth >= 5) return;
  for (const value of Object.values(serialized)) {
    for (const inner of Array.isArray(value) ? value : [value]) {
      if (typeof inner === 'object' && inner !== null && Object.getPrototypeOf(inner) === copyProto) {
        dropDiscordRequest(inner as Record<string, unknown>, copyProto, depth + 1);
      }
    }
  }
}

/**
 * pino's error serializer, minus what Discord's REST errors carry about the
 * request: the URL holds the interaction token, the body holds message content.
 */
export function serializeError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  if (serialized === error || typeof serialized !== 'object' || serialized === null) return withoutDiscordErrors(error);
  dropDiscordRequest(serialized as Record<string, unknown>, Object.getPrototypeOf(serialized) as object | null);
  return serialized;
}

/**
 * A copy of a logged value in which every Discord REST error, however deep in
 * plain objects and arrays, is serialized without its request; the value
 * itself when there is none.
 */
function withoutDiscordErrors(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 5) return value;
  if (value instanceof Error) return isDiscordRestError(value as unknown as Record<string, unknown>) ? serializeError(value) : value;
  if (Array.isArray(value)) {
    const items = value.map((item: unknown) => withoutDiscordErrors(item, depth + 1));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    const cleaned = withoutDiscordErrors(inner, depth + 1);
    if (cleaned !== inner) (copy ??= { ...value })[key] = cleaned;
  }
  return copy ?? value;
}

function scrubbingStream(secrets: readonly string[], target: Writable): Writable {
  const scrub = new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      callback(null, scrubSecrets(chunk.toString(), secrets));
    },
  });
  scrub.pipe(target);
  return scrub;
}

export function createLogger(options: LoggerOptions): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 6);
  const sink: Writable = options.pretty
    ? pretty({ colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname', destination: options.destination ?? 1 })
    : (options.destination ?? process.stdout);
  return pino(
    {
      level: options.level,
      base: { app: 'switchboard' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      serializers: { err: serializeError, error: serializeError },
      // Discord errors logged under any other key lose their request too.
      formatters: { log: (object) => withoutDiscordErrors(object) as Record<string, unknown> },
    },
    scrubbingStream(secrets, sink),
  );
}
