/**
 * The root logger. JSON by default, pretty in a terminal during development.
 * Secrets are kept out twice: known secret-bearing keys are redacted, and every
 * line is scrubbed of the configured secret values before it is written.
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

/** Replaces each secret (and its bearer-header form) with [REDACTED]. */
export function scrubSecrets(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) {
    if (secret.length < 6) continue;
    if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret && out.includes(escaped)) out = out.split(escaped).join('[REDACTED]');
  }
  return out;
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
      serializers: { err: pino.stdSerializers.err },
    },
    secrets.length > 0 ? scrubbingStream(secrets, sink) : sink,
  );
}
