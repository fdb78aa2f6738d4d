import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { systemClock, type Clock } from '../../src/core/types.ts';
import { createModelCatalog } from '../../src/llm/catalog.ts';
import { createOpenRouterService, type OpenRouterServiceOptions } from '../../src/llm/openrouter.ts';
import type { LlmService, ModelCatalog, StreamEvent } from '../../src/llm/types.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import type { RequestContext } from '../../src/tools/types.ts';
import type { FakeOpenRouter } from '../fakes/openrouter.ts';

export const API_KEY = 'sk-or-v1-test0123456789abcdef0123456789abcdef';

export interface CapturedLog {
  logger: Logger;
  /** Everything written so far, one JSON line per entry. */
  text(): string;
  entries(): Record<string, unknown>[];
}

export function captureLogger(): CapturedLog {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino({ level: 'trace' }, stream);
  return {
    logger,
    text: () => lines.join(''),
    entries: () =>
      lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface ManualClock extends Clock {
  advance(ms: number): void;
}

/** now() moves only when told; sleep() still waits for real (tiny) delays. */
export function manualClock(start = 1_000_000): ManualClock {
  let now = start;
  return {
    now: () => now,
    sleep: (ms, signal) => systemClock.sleep(ms, signal),
    advance(ms) {
      now += ms;
    },
  };
}

export async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

export function terminalOf(events: StreamEvent[]): Extract<StreamEvent, { type: 'done' | 'error' }> {
  const last = events.at(-1);
  if (!last || (last.type !== 'done' && last.type !== 'error')) throw new Error(`no terminal event in ${JSON.stringify(events)}`);
  const terminals = events.filter((e) => e.type === 'done' || e.type === 'error');
  if (terminals.length !== 1) throw new Error(`expected one terminal event, got ${terminals.length}`);
  return last;
}

export function doneOf(events: StreamEvent[]) {
  const t = terminalOf(events);
  if (t.type !== 'done') throw new Error(`expected done, got error ${t.error.kind}: ${t.error.message}`);
  return t.result;
}

export function errorOf(events: StreamEvent[]) {
  const t = terminalOf(events);
  if (t.type !== 'error') throw new Error('expected an error event, got done');
  return t;
}

export function textOf(events: StreamEvent[]): string {
  return events.map((e) => (e.type === 'text' ? e.text : '')).join('');
}

export interface Harness {
  service: LlmService;
  catalog: ModelCatalog;
  registry: ToolRegistry;
  log: CapturedLog;
  context: RequestContext;
}

export function makeHarness(
  fake: FakeOpenRouter,
  overrides: Partial<OpenRouterServiceOptions> & { registry?: ToolRegistry; catalog?: ModelCatalog } = {},
): Harness {
  const log = captureLogger();
  const catalog = overrides.catalog ?? createModelCatalog({ baseUrl: fake.url, apiKey: API_KEY, logger: log.logger });
  const registry = overrides.registry ?? new ToolRegistry(1000);
  const service = createOpenRouterService({
    apiKey: API_KEY,
    baseUrl: fake.url,
    appUrl: 'https://switchboard.example',
    appTitle: 'Switchboard',
    timeoutMs: 5_000,
    maxRetries: 0,
    logger: log.logger,
    ...overrides,
    catalog,
    registry,
  });
  const context: RequestContext = {
    requestId: 'req-1',
    platform: 'discord',
    workspaceId: 'guild-1',
    channelId: 'chan-1',
    userId: 'user-1',
    catalog,
    now: () => new Date(0),
  };
  return { service, catalog, registry, log, context };
}

export const hello = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello there' }] };
