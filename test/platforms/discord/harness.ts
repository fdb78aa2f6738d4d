/**
 * The real discord.js client (through our adapter) against the fake Discord,
 * with a real core against the fake OpenRouter, sharing one scaled clock.
 */
import type { Clock } from '../../../src/core/types.ts';
import { createDiscordAdapter, type DiscordAdapter } from '../../../src/platforms/discord/adapter.ts';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions, type FakeMessage } from '../../fakes/discord.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
export { waitFor } from '../../helpers/wait.ts';

/**
 * Virtual time running `scale` times faster than real time, plus jumps:
 * Discord's 5 s windows pass in 100 ms and rate-limit waits stay real waits,
 * so network I/O and timers interleave as they would in production.
 */
export interface ScaledClock extends Clock {
  /** Jumps virtual time forward (e.g. past an interaction token's 15 minutes). */
  jump(ms: number): void;
}

export function createScaledClock(scale = 50, startAt = Date.UTC(2025, 0, 15, 12)): ScaledClock {
  const realStart = performance.now();
  let offset = 0;
  return {
    now: () => Math.floor(startAt + (performance.now() - realStart) * scale + offset),
    jump(ms) {
      offset += ms;
    },
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        const reason = () => (signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        if (signal?.aborted) {
          reject(reason());
          return;
        }
        const onAbort = () => {
          clearTimeout(timer);
          reject(reason());
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, Math.max(0, ms) / scale);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}

export interface Harness {
  fake: FakeDiscord;
  app: TestApp;
  adapter: DiscordAdapter;
  clock: ScaledClock;
  /** Starts another adapter on the same core (a restart). */
  newAdapter(): DiscordAdapter;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  fake?: FakeDiscordOptions;
  /** Register globally instead of in the fake guild. */
  global?: boolean;
  scale?: number;
  /** Shapes the fake's world (roles, users) before the bot connects. */
  setup?: (fake: FakeDiscord) => void;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = createScaledClock(options.scale);
  const fake = await startFakeDiscord({ clock, ...options.fake });
  options.setup?.(fake);
  let app: Awaited<ReturnType<typeof startTestApp>>;
  try {
    app = await startTestApp({
      clock,
      env: {
        DISCORD_TOKEN: fake.token,
        DISCORD_API_URL: fake.apiUrl,
        ...(options.global ? {} : { DISCORD_GUILD_ID: fake.guildId }),
        QUOTA_MAX_CONCURRENT: '5',
        ALLOW_DMS: 'true',
        ...options.env,
      },
    });
  } catch (error) {
    // A configuration the app refuses: nothing of the harness stays open.
    await fake.close();
    throw error;
  }
  const adapters: DiscordAdapter[] = [];
  const newAdapter = () => {
    const adapter = createDiscordAdapter(app.config.discord!, app.core.host, { drainMs: 2000 });
    adapters.push(adapter);
    return adapter;
  };
  const adapter = newAdapter();
  try {
    await adapter.start();
  } catch (error) {
    await fake.close();
    await app.close();
    throw error;
  }
  return {
    fake,
    app,
    adapter,
    clock,
    newAdapter,
    async close() {
      for (const a of adapters) await a.stop();
      await fake.close();
      await app.close();
    },
  };
}


/** The bot's public messages in a channel after (and including) a given one. */
export function botMessagesSince(fake: FakeDiscord, channelId: string, afterId = '0'): FakeMessage[] {
  return fake.botMessages(channelId).filter((m) => BigInt(m.id) >= BigInt(afterId));
}

/** Words of an answer with this many characters, in chunks for streaming. */
export function longText(chars: number, chunks = 30): { full: string; parts: string[] } {
  const words: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const word = `${i % 7 === 6 ? '\n\n' : ''}word${i}`;
    words.push(word);
    length += word.length + 1;
  }
  const full = words.join(' ');
  const size = Math.ceil(full.length / chunks);
  const parts: string[] = [];
  for (let i = 0; i < full.length; i += size) parts.push(full.slice(i, i + size));
  return { full, parts };
}

/**
 * Runs `fn` once, after the first edit that shows answer text. Returns the
 * promise to give the fake model as `restWaitsFor`, so the rest of the answer
 * comes after `fn` however fast or slow the machine is (without it, a whole
 * short answer can land in that first edit and the step never happens mid-answer).
 */
export function afterFirstTextEdit(fake: FakeDiscord, fn: (path: string) => void): Promise<void> {
  let done = false;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const off = fake.onRequest((request) => {
    const body = request.body as { content?: string } | undefined;
    if (done || request.method !== 'PATCH' || request.status !== 200 || !body?.content || body.content.startsWith('…thinking')) return;
    done = true;
    off();
    fn(request.path);
    release();
  });
  return released;
}

/**
 * Reading what people see (tests only: the bot itself never parses its own
 * output). The footer line is "model · N in / N out · cost · N s".
 */
const FOOTER_LINE = /^\S+(?: \(fallback for \S+\))? · [\d.,k]+ in \/ [\d.,k]+ out\b[^\n]* · \d+(?:\.\d+)? s(?: · [^\n]*)?$/;
const END_LINE = /^(⚠️|⏹️)/;

/** Whether a message ends with the footer of a finished answer. */
export function hasFooter(text: string): boolean {
  return FOOTER_LINE.test(text.slice(text.lastIndexOf('\n\n') + 2).trim());
}

/** The answer text of a message as shown, without footer, end lines and cursor. */
export function answerText(text: string): string {
  const paragraphs = text.split('\n\n');
  while (paragraphs.length > 0 && (FOOTER_LINE.test(paragraphs.at(-1)!.trim()) || END_LINE.test(paragraphs.at(-1)!.trim()))) paragraphs.pop();
  return paragraphs.join('\n\n').replace(/ ▍$/, '').trim();
}
