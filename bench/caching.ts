/**
 * The second turn of a long thread against the first: the real core (createApp,
 * real openai SDK, SQLite in memory) against the fake OpenRouter with its
 * session cache on. The fake prices cached prompt tokens at a tenth and models
 * prefill time per 1,000 uncached prompt tokens, so a follow-up that sticks to
 * its session (session_id) and reads the thread from the cache costs less and
 * starts sooner. The prefill rate is the fake's assumption, not a measurement
 * of a provider: the time figures show the mechanism works end to end, and how
 * much it is worth scales with the real provider's prefill speed.
 */
import { Writable } from 'node:stream';
import { createApp } from '../src/app.ts';
import { parseConfig } from '../src/config.ts';
import type { HistoryMessage } from '../src/core/conversation.ts';
import { createLogger } from '../src/log.ts';
import { startFakeOpenRouter } from '../test/fakes/openrouter.ts';
import { createHarness } from '../test/helpers/invocation.ts';
import { percentile } from './stats.ts';

const API_KEY = 'sk-or-v1-bench-caching-0123456789';
const MODEL = 'anthropic/claude-3.5-sonnet';
/** The thread before the follow-up, in tokens (4 characters a token, as the fake counts). */
const THREAD_TOKENS = 20_000;
/** Fake prefill: this many ms per 1,000 prompt tokens not read from the cache. */
export const PREFILL_MS_PER_K_TOKEN = 20;

export interface CachingTurn {
  promptTokens: number;
  cachedTokens: number;
  costUsd: number;
  ttftP50Ms: number;
}

export interface CachingResult {
  threadTokens: number;
  samples: number;
  prefillMsPerKToken: number;
  cacheControlSent: boolean;
  first: CachingTurn;
  second: CachingTurn;
}

function thread(conversation: number): HistoryMessage[] {
  const turns = 10;
  const perTurn = Math.ceil((THREAD_TOKENS * 4) / turns);
  return Array.from({ length: turns }, (_, i) => ({
    role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
    text: `conversation ${conversation} turn ${i}: ${'the quick brown fox jumps over the lazy dog '.repeat(Math.ceil(perTurn / 44))}`.slice(0, perTurn),
    at: new Date(Date.now() - 100_000 + i),
    authorId: 'u1',
    authorName: 'Ada',
  }));
}

export async function benchCaching(options: { samples: number }): Promise<CachingResult> {
  const fake = await startFakeOpenRouter({ apiKey: API_KEY });
  fake.cacheSessions = true;
  fake.prefillMsPerKToken = PREFILL_MS_PER_K_TOKEN;
  fake.setDefault(() => ({ text: ['Here ', 'is ', 'the ', 'answer.'], firstTokenDelayMs: 50 }));
  const config = parseConfig({
    OPENROUTER_API_KEY: API_KEY,
    OPENROUTER_BASE_URL: fake.url,
    DATABASE_URL: 'sqlite::memory:',
    DEFAULT_MODEL: MODEL,
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
  });
  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }), secrets: config.secrets });
  const app = await createApp(config, { logger });
  let last: { requestId: string; ttftMs: number } | undefined;
  const off = app.core.events.on('answer-finished', (e) => {
    last = { requestId: e.requestId, ttftMs: e.ttftMs ?? Number.NaN };
  });
  /** Per turn (first, second): each answer's request id and time to first token. */
  const turns: Array<Array<{ requestId: string; ttftMs: number }>> = [[], []];
  try {
    for (let i = 0; i < options.samples; i++) {
      const h = createHarness(app.core, { history: thread(i) });
      for (const turn of [0, 1]) {
        last = undefined;
        await h.run({ id: 'u1', name: 'Ada' }, 'ask', undefined, { prompt: `follow-up ${turn + 1}` }, { conversationKey: `bench:w1:c1:thread-${i}` });
        if (last) turns[turn]!.push(last);
      }
    }
    const rows = new Map((await app.core.store.ledger({})).map((r) => [r.requestId, r]));
    const sent = fake.chatRequests();
    const median = (values: number[]) => percentile(values, 50);
    const turnOf = (n: 0 | 1): CachingTurn => {
      const own = turns[n]!.flatMap((t) => rows.get(t.requestId) ?? []);
      return {
        promptTokens: median(own.map((r) => r.tokensIn)),
        cachedTokens: median(own.map((r) => r.tokensCached ?? 0)),
        costUsd: median(own.map((r) => r.costUsd)),
        ttftP50Ms: median(turns[n]!.map((t) => t.ttftMs)),
      };
    };
    return {
      threadTokens: THREAD_TOKENS,
      samples: options.samples,
      prefillMsPerKToken: PREFILL_MS_PER_K_TOKEN,
      cacheControlSent: sent.every((r) => (r.body?.cache_control as { type?: string } | undefined)?.type === 'ephemeral'),
      first: turnOf(0),
      second: turnOf(1),
    };
  } finally {
    off();
    await app.close();
    await fake.close();
  }
}
