/**
 * What the benchmark's two processes say to each other. The fakes (OpenRouter,
 * Discord, Slack) run in a child process so their CPU time and event-loop work
 * do not count against the bot's; the child timestamps deliveries with
 * `wallMs()`, which both processes read from the same system clock.
 */

export const BENCH_API_KEY = 'sk-or-v1-bench-0123456789abcdef';
export const BENCH_MODEL = 'openai/gpt-4o-mini';

/** The upstream's shape for every answer: a fixed first-token delay, then chunks. */
export interface UpstreamShape {
  firstTokenDelayMs: number;
  chunkDelayMs: number;
  chunks: number;
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The prompt for answer `tag`; the fake upstream answers it with answerFor(tag). */
export function promptFor(tag: string): string {
  return `bench ${tag}`;
}

const FILLER =
  'Switchboard streams this answer in pieces so the benchmark can see every edit arrive on time and in order, ' +
  'with nothing lost along the way and the footer added once at the end.';

export function answerFor(tag: string): string {
  return `Answer ${tag}: ${FILLER}`;
}

/** Splits a text into `n` nearly equal chunks. */
export function chunksOf(text: string, n: number): string[] {
  const size = Math.ceil(text.length / Math.max(1, n));
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  return parts;
}

export type Platform = 'discord' | 'slack';

/** One answer as the fake platform saw it (absolute wallMs times). */
export interface AnswerRecord {
  platform: Platform;
  tag: string;
  /** The fake delivered the command / mention. */
  sentAt: number;
  /** Discord: the interaction was acknowledged (its first accepted callback). */
  ackedAt?: number;
  /** First platform write that shows answer text. */
  firstTextAt?: number;
  /** The final message (with the footer) was delivered. */
  finalAt?: number;
  /** The final text matched answerFor(tag). */
  correct: boolean;
  /** Refused by a quota (the refusal was delivered instead of an answer). */
  refused?: boolean;
  /** Message writes (posts, edits, stream calls) for this answer, placeholder included. */
  writes: number;
}

export interface PlatformCounters {
  /** 429s the fake answered. */
  rateLimited: number;
  violations: string[];
}

export type ToChild =
  | {
      type: 'start';
      channels: number;
      users: number;
      upstream: UpstreamShape;
      /** Fleet bench: guilds spread over this many Discord shards (default 1 guild), the channels round-robin over them. */
      shards?: number;
      /** The fake Discord's deadline for acknowledging an interaction (Discord's: 3,000 ms, the default). */
      ackDeadlineMs?: number;
    }
  | { type: 'shards' }
  | { type: 'slack-receiver'; url: string }
  | { type: 'run'; id: number; discord: number; slack: number; sequential: boolean; timeoutMs: number }
  | { type: 'exit' };

export type ToParent =
  | {
      type: 'ready';
      openrouterUrl: string;
      discord: { token: string; apiUrl: string; guildId: string; userIds: string[]; channelGuilds: string[] };
      slack: { apiUrl: string; botToken: string; signingSecret: string; teamId: string; userIds: string[] };
    }
  | { type: 'shards'; ready: number }
  | { type: 'ok' }
  | {
      type: 'ran';
      id: number;
      records: AnswerRecord[];
      discord: PlatformCounters;
      slack: PlatformCounters;
      elapsedMs: number;
      /** The fakes' own process during the run: event-loop delay and CPU time (it serves every platform). */
      fakes?: { loopP99Ms: number; loopMaxMs: number; cpuMs: number };
    };
