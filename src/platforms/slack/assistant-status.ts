/**
 * "is thinking…", "is using calculator…" under a thread
 * (assistant.threads.setStatus) while an answer is on its way. Where Slack
 * refuses it, the thinking message alone shows progress, and the method is not
 * tried again for a while.
 */
import type { webApi } from '@slack/bolt';
import type { AnswerProgress } from '../../core/progress.ts';
import type { Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { RETRY_UNSUPPORTED_MS, slackErrorCode } from './errors.ts';

const UNSUPPORTED = new Set(['unknown_method', 'missing_scope', 'not_allowed_token_type']);

export const THINKING = 'is thinking…';

/** Slack's status words for an answer's progress step (Slack writes the app's name before them). */
export function assistantStatusText(step: AnswerProgress | null): string {
  if (step === null) return THINKING;
  return step.kind === 'searching' ? 'is searching the web…' : `is using ${step.tool}…`;
}

export class AssistantStatus {
  #unsupportedUntil = 0;
  constructor(private readonly deps: { client: webApi.WebClient; logger: Logger; clock: Clock }) {}

  /** Sets the status; resolves true when Slack took it (so it needs clearing). */
  async set(channel: string, threadTs: string, status: string): Promise<boolean> {
    const { client, logger, clock } = this.deps;
    if (clock.now() < this.#unsupportedUntil) return false;
    try {
      await client.assistant.threads.setStatus({ channel_id: channel, thread_ts: threadTs, status });
      return true;
    } catch (error) {
      const code = slackErrorCode(error);
      logger.debug({ err: error, code }, 'assistant.threads.setStatus not available here');
      if (code !== undefined && UNSUPPORTED.has(code)) this.#unsupportedUntil = clock.now() + RETRY_UNSUPPORTED_MS;
      return false;
    }
  }

  /** One answer's status in one thread: calls go in order, and once Slack took one, clear() clears it. */
  forThread(channel: string, threadTs: string): ThreadStatus {
    return new ThreadStatus(this, channel, threadTs);
  }
}

export class ThreadStatus {
  #chain: Promise<boolean> = Promise.resolve(false);
  #taken = false;
  #cleared = false;

  constructor(
    private readonly status: AssistantStatus,
    private readonly channel: string,
    private readonly threadTs: string,
  ) {}

  /** Shows a status after the ones before it; best effort, never throws. */
  show(text: string): Promise<boolean> {
    if (this.#cleared) return Promise.resolve(false);
    this.#chain = this.#chain.then(async () => {
      if (this.#cleared && text !== '') return false;
      const took = await this.status.set(this.channel, this.threadTs, text);
      this.#taken ||= took;
      return took;
    });
    return this.#chain;
  }

  /** Clears the status if Slack took any (the answer is over). */
  async clear(): Promise<void> {
    await this.#chain;
    if (this.#cleared || !this.#taken) return;
    this.#cleared = true;
    await this.status.set(this.channel, this.threadTs, '');
  }
}
