/**
 * The faults every platform must survive, as data. Each platform's test file
 * runs every case through its real adapter and checks the same things: a
 * clear final message, nothing left on "thinking", exactly one ledger row,
 * no reservation left, and a following request that works.
 */
import { z } from 'zod';
import type { Outcome } from '../../src/store/types.ts';
import { defineTool } from '../../src/tools/types.ts';
import type { FakeOpenRouter } from '../fakes/openrouter.ts';

/** Short SDK retry waits: the SDK honours retry-after-ms before its own backoff. */
const QUICK_RETRY = { 'retry-after-ms': '5' };
/** The SDK makes this many attempts before an error reaches us (maxRetries 2). */
const ATTEMPTS = 3;

/** Environment for a fault harness: a short upstream timeout and the fault tools enabled. */
export const FAULT_ENV: Record<string, string> = {
  REQUEST_TIMEOUT_MS: '1000',
  DEFAULT_TOOLS: 'calculator,fault_throw,fault_hang',
  QUOTA_MAX_CONCURRENT: '3',
};

/** A tool that always throws, and one that never returns (its timeout is 200 ms of the core's clock). */
export const faultTools = [
  defineTool({
    name: 'fault_throw',
    description: 'Always fails',
    input: z.object({}),
    execute() {
      throw new Error('the fault tool broke');
    },
  }),
  defineTool({
    name: 'fault_hang',
    description: 'Never finishes',
    input: z.object({}),
    timeoutMs: 200,
    execute: () => new Promise<never>(() => undefined),
  }),
];

export interface UpstreamFault {
  name: string;
  /** Scripts the fake OpenRouter for the request under test. */
  arrange(openrouter: FakeOpenRouter): void;
  /** What the final message must show. */
  shows: RegExp;
  outcome: Outcome;
  errorKind: string | null;
  /** Faults that only need checking once (slow ones), not on every platform. */
  coreOnly?: boolean;
  /** Extra checks on what the bot sent upstream. */
  check?(openrouter: FakeOpenRouter): void;
}

const toolResults = (openrouter: FakeOpenRouter): string[] =>
  (openrouter.chatRequests().at(-1)?.body?.messages ?? []).filter((m) => m.role === 'tool').map((m) => m.content ?? '');

function expectToolError(openrouter: FakeOpenRouter, pattern: RegExp): void {
  const results = toolResults(openrouter);
  if (!results.some((r) => pattern.test(r))) throw new Error(`no tool result matching ${pattern}: ${JSON.stringify(results)}`);
}

export const UPSTREAM_FAULTS: UpstreamFault[] = [
  {
    name: 'upstream 429',
    arrange: (o) => o.enqueue(...Array.from({ length: ATTEMPTS }, () => ({ status: 429, headers: QUICK_RETRY }))),
    shows: /⚠️ The model is rate limited; try again in 1 s\./,
    outcome: 'error',
    errorKind: 'rate_limited',
  },
  {
    name: 'upstream 402 (out of credits)',
    arrange: (o) => o.enqueue({ status: 402 }),
    shows: /⚠️ OpenRouter credits are exhausted; tell an admin\./,
    outcome: 'error',
    errorKind: 'out_of_credits',
  },
  {
    name: 'upstream 403 moderation',
    arrange: (o) =>
      o.enqueue({ status: 403, error: { message: 'Your input was flagged', metadata: { reasons: ['harassment'], flagged_input: 'x' } } }),
    shows: /⚠️ The request was blocked by moderation: harassment\./,
    outcome: 'error',
    errorKind: 'moderation',
  },
  {
    name: 'upstream 502',
    arrange: (o) => o.enqueue(...Array.from({ length: ATTEMPTS }, () => ({ status: 502, headers: QUICK_RETRY }))),
    shows: /⚠️ The model's provider is down; try again or pick another model\./,
    outcome: 'error',
    errorKind: 'upstream_down',
  },
  {
    name: 'upstream 503 (no provider)',
    arrange: (o) => o.enqueue(...Array.from({ length: ATTEMPTS }, () => ({ status: 503, headers: QUICK_RETRY }))),
    shows: /⚠️ No such model or no provider for it that fits the settings/,
    outcome: 'error',
    errorKind: 'not_found',
  },
  {
    // Every attempt times out waiting for headers: three timeouts plus the SDK's backoff (~2 s), so once.
    name: 'upstream timeout before any answer',
    arrange: (o) => o.enqueue(...Array.from({ length: ATTEMPTS }, () => ({ hang: 'before-headers' as const }))),
    shows: /⚠️ The model took too long to answer\./,
    outcome: 'error',
    errorKind: 'timeout',
    coreOnly: true,
  },
  {
    name: 'upstream goes silent mid-answer (idle timeout)',
    arrange: (o) => o.enqueue({ text: ['Half an ', 'answer'], hang: 'after-text' }),
    shows: /Half an answer[\s\S]*⚠️ The model took too long to answer\./,
    outcome: 'error',
    errorKind: 'timeout',
  },
  {
    name: 'connection reset mid-answer',
    arrange: (o) => o.enqueue({ text: ['Cut off ', 'here'], resetAfterText: true }),
    shows: /Cut off here[\s\S]*⚠️ Could not reach OpenRouter; try again in a moment\./,
    outcome: 'error',
    errorKind: 'network',
  },
  {
    name: 'mid-stream error chunk',
    arrange: (o) => o.enqueue({ text: ['Partial ', 'text'], midStreamError: { code: 502, message: 'Provider returned error', metadata: { raw: 'provider crashed' } } }),
    shows: /Partial text[\s\S]*⚠️ The model stopped with an error mid-answer: provider crashed\./,
    outcome: 'error',
    errorKind: 'mid_stream',
  },
  {
    name: 'malformed SSE',
    arrange: (o) => o.enqueue({ text: ['Before the ', 'garbage'], malformedAfterText: true }),
    shows: /Before the garbage[\s\S]*⚠️ The model stopped with an error mid-answer: malformed data in the stream\./,
    outcome: 'error',
    errorKind: 'mid_stream',
  },
  {
    name: 'empty choices (no content at all)',
    arrange: (o) => o.enqueue({ text: [], usage: { prompt_tokens: 10, completion_tokens: 0 } }),
    shows: /the model returned an empty answer/,
    outcome: 'ok',
    errorKind: null,
  },
  {
    name: 'tool call with invalid JSON arguments',
    arrange: (o) => o.enqueue({ toolCalls: [{ name: 'calculator', arguments: '{"expression": "2+' }] }, { text: ['The calculator could not be used.'] }),
    shows: /The calculator could not be used\./,
    outcome: 'ok',
    errorKind: null,
    check: (o) => expectToolError(o, /not valid JSON/),
  },
  {
    name: 'a tool that throws',
    arrange: (o) => o.enqueue({ toolCalls: [{ name: 'fault_throw', arguments: '{}' }] }, { text: ['The tool failed, sorry.'] }),
    shows: /The tool failed, sorry\./,
    outcome: 'ok',
    errorKind: null,
    check: (o) => expectToolError(o, /the fault tool broke/),
  },
  {
    name: 'a tool that hangs past its timeout',
    arrange: (o) => o.enqueue({ toolCalls: [{ name: 'fault_hang', arguments: '{}' }] }, { text: ['The tool took too long.'] }),
    shows: /The tool took too long\./,
    outcome: 'ok',
    errorKind: null,
    check: (o) => expectToolError(o, /timed out after 200 ms/),
  },
];

/** Marks of an answer still in progress: none may be left once it ended. */
export const IN_PROGRESS = /…thinking|Thinking…|▍/;
