/**
 * A real Switchboard core for tests: the real composition root (createApp) with
 * the real openai SDK talking to the fake OpenRouter on 127.0.0.1, and a real
 * SQLite store (in memory unless a DATABASE_URL is given).
 */
import { Writable } from 'node:stream';
import { createApp, type App } from '../../src/app.ts';
import { parseConfig, type Config } from '../../src/config.ts';
import type { Core } from '../../src/core/core.ts';
import type { Clock } from '../../src/core/types.ts';
import { createLogger } from '../../src/log.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';

export const TEST_API_KEY = 'sk-or-v1-test-0123456789abcdef';

export interface TestApp {
  app: App;
  core: Core;
  config: Config;
  openrouter: FakeOpenRouter;
  /** Every log line written, as parsed JSON. */
  logs: Array<Record<string, unknown>>;
  /** Every log line, raw text (for leak checks). */
  rawLogs(): string;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  openrouter?: FakeOpenRouter;
  instanceId?: string;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const openrouter = options.openrouter ?? (await startFakeOpenRouter({ apiKey: TEST_API_KEY }));
  const config = parseConfig({
    OPENROUTER_API_KEY: TEST_API_KEY,
    OPENROUTER_BASE_URL: openrouter.url,
    DATABASE_URL: 'sqlite::memory:',
    DEFAULT_MODEL: 'openai/gpt-4o-mini',
    LOG_LEVEL: 'debug',
    LOG_PRETTY: 'false',
    REQUEST_TIMEOUT_MS: '10000',
    ...options.env,
  });
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger({ level: config.log.level, destination, secrets: config.secrets });
  const app = await createApp(config, { logger, clock: options.clock, instanceId: options.instanceId });
  const logs: Array<Record<string, unknown>> = [];
  return {
    app,
    core: app.core,
    config,
    openrouter,
    get logs() {
      logs.length = 0;
      for (const chunk of raw) {
        for (const line of chunk.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      return logs;
    },
    rawLogs: () => raw.join(''),
    async close() {
      await app.close();
      if (!options.openrouter) await openrouter.close();
    },
  };
}
