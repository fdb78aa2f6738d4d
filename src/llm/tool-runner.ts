import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../util/clock.ts';
import type { ToolSource } from './tool-types.ts';
import type { RequestContext, Tool } from './tool-types.ts';
import type { ToolCall } from './types.ts';

export interface ToolRunResult {
  call: ToolCall;
  /** What goes back to the model. */
  content: string;
  isError: boolean;
}

export interface ToolRunDeps {
  registry: ToolSource;
  context: RequestContext;
  /** The request's signal; aborting it aborts every running tool. */
  signal: AbortSignal;
  clock: Clock;
  logger: Logger;
  /**
   * Names of the tools offered to the model in this round. The model may name
   * any tool (a disabled built-in, a plugin not enabled here, one it made up);
   * only these may run.
   */
  offered: ReadonlySet<string>;
}

const errorContent = (message: string) => JSON.stringify({ error: message });

type Attempt = { ok: true; args: unknown } | { ok: false; message: string };

function validate(tool: Tool, args: unknown): Attempt {
  const parsed = tool.input.safeParse(args);
  return parsed.success
    ? { ok: true, args: parsed.data }
    : { ok: false, message: `invalid arguments for ${tool.name}: ${z.prettifyError(parsed.error)}` };
}

function parseArguments(text: string): Attempt {
  // Models send "" for tools without parameters.
  if (text.trim() === '') return { ok: true, args: {} };
  try {
    return { ok: true, args: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, message: `arguments are not valid JSON (${err instanceof Error ? err.message : String(err)})` };
  }
}

function serialize(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'null';
  return JSON.stringify(value);
}

/**
 * Runs one tool call from start to end: parse, validate, hooks, execute with
 * a timeout, hooks again. Every failure becomes an error result for the model;
 * nothing here throws.
 */
export async function runToolCall(call: ToolCall, deps: ToolRunDeps): Promise<ToolRunResult> {
  const started = deps.clock.now();
  const log = deps.logger.child({ tool: call.name, callId: call.id });
  let args: unknown = call.arguments;
  // The model calls a tool by its wire name; hooks and logs see the tool's own (`github.search_issues`).
  let name = call.name;
  let outcome: { content: string; isError: boolean };

  try {
    outcome = await decideAndExecute();
  } catch (err) {
    // Defensive: decideAndExecute handles its own failures.
    log.error({ err }, 'tool runner failed');
    outcome = { content: errorContent('the tool failed'), isError: true };
  }

  const durationMs = deps.clock.now() - started;
  for (const hooks of deps.registry.hooks()) {
    if (!hooks.afterToolCall) continue;
    try {
      await hooks.afterToolCall({ callId: call.id, name, args, ...outcome, durationMs }, deps.context);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'afterToolCall hook failed; ignored');
    }
  }
  log.debug({ isError: outcome.isError, durationMs }, 'tool call finished');
  return { call, ...outcome };

  async function decideAndExecute(): Promise<{ content: string; isError: boolean }> {
    const tool = deps.offered.has(call.name) ? deps.registry.get(call.name) : undefined;
    if (!tool) {
      log.warn({ requestId: deps.context.requestId }, 'model called a tool that was not offered in this round; refused');
      return { content: errorContent(`the tool "${call.name}" is not available here`), isError: true };
    }
    name = tool.name;

    const parsed = parseArguments(call.arguments);
    if (!parsed.ok) return { content: errorContent(parsed.message), isError: true };
    args = parsed.args;
    let valid = validate(tool, args);
    if (!valid.ok) return { content: errorContent(valid.message), isError: true };
    args = valid.args;

    for (const hooks of deps.registry.hooks()) {
      if (!hooks.beforeToolCall) continue;
      let decision;
      try {
        decision = await hooks.beforeToolCall({ callId: call.id, name, args }, deps.context);
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'beforeToolCall hook threw; call denied');
        return { content: errorContent('the tool call was blocked by a policy check that failed'), isError: true };
      }
      if (!decision || decision.action === 'allow') continue;
      if (decision.action === 'deny') return { content: errorContent(decision.reason), isError: true };
      valid = validate(tool, decision.args);
      if (!valid.ok) return { content: errorContent(valid.message), isError: true };
      args = valid.args;
    }

    return execute(tool, args);
  }

  async function execute(tool: Tool, input: unknown): Promise<{ content: string; isError: boolean }> {
    const timeoutMs = deps.registry.timeoutFor(tool);
    const toolAbort = new AbortController();
    const stopTimer = new AbortController();
    const onRequestAbort = () => toolAbort.abort(new Error('request aborted'));
    deps.signal.addEventListener('abort', onRequestAbort, { once: true });
    if (deps.signal.aborted) onRequestAbort();

    type Race = { kind: 'value'; value: unknown } | { kind: 'thrown'; err: unknown } | { kind: 'timeout' } | { kind: 'aborted' };
    const work: Promise<Race> = Promise.resolve()
      .then(() => tool.execute(input as never, { ...deps.context, signal: toolAbort.signal }))
      .then(
        (value): Race => ({ kind: 'value', value }),
        (err: unknown): Race => ({ kind: 'thrown', err }),
      );
    const timeout: Promise<Race> = deps.clock.sleep(timeoutMs, stopTimer.signal).then(
      (): Race => ({ kind: 'timeout' }),
      (): Race => ({ kind: 'aborted' }),
    );
    const aborted = new Promise<Race>((resolve) => {
      if (toolAbort.signal.aborted) resolve({ kind: 'aborted' });
      toolAbort.signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), { once: true });
    });

    try {
      const result = await Promise.race([work, timeout, aborted]);
      switch (result.kind) {
        case 'value':
          try {
            return { content: serialize(result.value), isError: false };
          } catch (err) {
            return { content: errorContent(`the result could not be serialised: ${errorMessage(err)}`), isError: true };
          }
        case 'thrown':
          log.info({ err: errorMessage(result.err) }, 'tool threw');
          return { content: errorContent(errorMessage(result.err)), isError: true };
        case 'timeout':
          toolAbort.abort(new Error(`timed out after ${timeoutMs} ms`));
          log.warn({ timeoutMs }, 'tool timed out');
          return { content: errorContent(`the tool timed out after ${timeoutMs} ms`), isError: true };
        case 'aborted':
          return { content: errorContent('the request was cancelled'), isError: true };
      }
    } finally {
      stopTimer.abort();
      deps.signal.removeEventListener('abort', onRequestAbort);
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
