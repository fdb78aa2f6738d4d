/**
 * Tools that ask first: a tool its server marks destructive (MCP
 * `destructiveHint`), or one an admin listed with /tools confirm, runs only
 * after the asker presses Allow on a message posted under the answer. Deny, or
 * no press within two minutes, and the model is told it was refused. Only the
 * asker's press counts. Runs as a beforeToolCall hook, so the tool loop's own
 * rules (rounds, timeouts, other hooks) are unchanged.
 */
import type { Hooks, RequestContext, ToolCallDecision, ToolCallInfo } from '../tools/types.ts';
import { truncate } from '../util/text.ts';
import type { Core } from './core.ts';
import type { Place } from './settings.ts';
import type { MessageAction, MessageSurface } from './types.ts';

/** How long a tool call waits for Allow or Deny. */
export const APPROVAL_TIMEOUT_MS = 120_000;

const BUTTONS: MessageAction[] = [
  { id: 'allow', label: 'Allow' },
  { id: 'deny', label: 'Deny' },
];

/** What the pipeline tells about an answer running here, so its asker can be asked. */
export interface ApprovalTarget {
  place: Place;
  userId: string;
  userName: string;
  surface: MessageSurface;
  signal: AbortSignal;
  /** Whether the asker is an admin (asked only when a rule depends on it). */
  isAdmin(): Promise<boolean>;
}

type Decision = 'allow' | 'deny' | 'timeout' | 'cancelled';

interface Waiting {
  userId: string;
  tool: string;
  decide(decision: 'allow' | 'deny'): void;
}

export type PressResult = 'decided' | 'not-asker' | 'not-waiting';

export class Approvals {
  readonly #waiting = new Map<string, Waiting>();
  /** One question at a time per answer (a round may call several tools at once). */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(private readonly core: Core) {}

  hooks(): Hooks {
    return { beforeToolCall: (call, ctx) => this.#check(call, ctx) };
  }

  /** The answers waiting for their asker here (tests, diagnostics). */
  waiting(): Array<{ requestId: string; userId: string; tool: string }> {
    return [...this.#waiting].map(([requestId, w]) => ({ requestId, userId: w.userId, tool: w.tool }));
  }

  /** A press of Allow or Deny; only the asker's counts. */
  press(requestId: string, userId: string, action: 'allow' | 'deny'): PressResult {
    const waiting = this.#waiting.get(requestId);
    if (!waiting) return 'not-waiting';
    if (waiting.userId !== userId) return 'not-asker';
    waiting.decide(action);
    return 'decided';
  }

  async #check(call: ToolCallInfo, ctx: RequestContext): Promise<ToolCallDecision | void> {
    const { core } = this;
    const tool = core.registry.get(call.name);
    if (!tool) return;
    const target = core.pipeline.approvalTarget(ctx.requestId);
    if (!(await this.#mustAsk(tool.name, tool.destructive === true, target?.place ?? ctx))) return;
    if (!target) return { action: 'deny', reason: `${tool.name} runs only after the asker allows it, and they cannot be asked here; it did not run.` };
    const previous = this.#queues.get(ctx.requestId) ?? Promise.resolve();
    const mine = previous.then(() => this.#ask(ctx.requestId, target, tool.name, call.args));
    this.#queues.set(ctx.requestId, mine.catch(() => undefined));
    let decision: Decision;
    try {
      decision = await mine;
    } finally {
      if (this.#queues.get(ctx.requestId) === mine) this.#queues.delete(ctx.requestId);
    }
    core.logger.info({ requestId: ctx.requestId, tool: tool.name, decision }, 'tool approval');
    if (decision === 'allow') return { action: 'allow' };
    const reason =
      decision === 'deny'
        ? `The user denied running ${tool.name}; it did not run. Do not try it again unless they ask.`
        : decision === 'timeout'
          ? `Nobody allowed running ${tool.name} within ${APPROVAL_TIMEOUT_MS / 60_000} minutes, so it did not run.`
          : `The answer was stopped before ${tool.name} was allowed; it did not run.`;
    return { action: 'deny', reason };
  }

  async #mustAsk(name: string, destructive: boolean, place: Place | RequestContext): Promise<boolean> {
    if (destructive) return true;
    const settings = await this.core.settings.resolve({ platform: place.platform, workspaceId: place.workspaceId, channelId: place.channelId, ...('parentChannelId' in place && place.parentChannelId ? { parentChannelId: place.parentChannelId } : {}) });
    const listed = this.core.registry.expand(settings.confirmTools.value);
    return listed.includes(name);
  }

  async #ask(requestId: string, target: ApprovalTarget, tool: string, args: unknown): Promise<Decision> {
    const { core } = this;
    const { surface } = target;
    if (target.signal.aborted) return 'cancelled';
    const text = (line: string) => {
      const view = { body: line, streaming: false, status: null, footer: null, endLine: null, final: false };
      return { text: surface.format ? surface.format(view) : line, view };
    };
    const question = text(`⚠️ The answer wants to run \`${tool}\` with ${argsSummary(args)}. ${target.userName}, allow it? (${APPROVAL_TIMEOUT_MS / 60_000} minutes to decide)`);
    const posted = await core.budget.run(surface.budgetKey, surface.rateLimit, () => surface.post(question.text, { actions: BUTTONS, view: question.view }));
    const stopWaiting = new AbortController();
    const decided = new Promise<Decision>((resolve) => {
      this.#waiting.set(requestId, { userId: target.userId, tool, decide: resolve });
      core.clock.sleep(APPROVAL_TIMEOUT_MS, stopWaiting.signal).then(
        () => resolve('timeout'),
        () => undefined,
      );
      const onAbort = () => resolve('cancelled');
      target.signal.addEventListener('abort', onAbort, { once: true });
      stopWaiting.signal.addEventListener('abort', () => target.signal.removeEventListener('abort', onAbort), { once: true });
    });
    let decision: Decision;
    try {
      decision = await decided;
    } finally {
      stopWaiting.abort();
      this.#waiting.delete(requestId);
    }
    const outcome = {
      allow: `✅ \`${tool}\` allowed by ${target.userName}.`,
      deny: `❌ \`${tool}\` denied by ${target.userName}; it did not run.`,
      timeout: `⌛ \`${tool}\` was not allowed within ${APPROVAL_TIMEOUT_MS / 60_000} minutes; it did not run.`,
      cancelled: `⏹️ \`${tool}\` did not run: the answer was stopped.`,
    }[decision];
    const done = text(outcome);
    await core.budget
      .run(surface.budgetKey, surface.rateLimit, () => surface.edit(posted.id, done.text, { actions: [], view: done.view }))
      .catch((error: unknown) => core.logger.warn({ err: error, requestId }, 'could not update the approval message'));
    return decision;
  }
}

/** The arguments as a short code span, never a mention or a link. */
function argsSummary(args: unknown): string {
  const json = JSON.stringify(args ?? {}) ?? '{}';
  if (json === '{}') return 'no arguments';
  return `\`${truncate(json.replace(/[`<>@]/g, ' '), 300)}\``;
}
