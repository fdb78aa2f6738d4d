/**
 * "is thinking…" under a thread (assistant.threads.setStatus) while an answer
 * is on its way. Where Slack refuses it, the thinking message alone shows
 * progress, and the method is not tried again for a while.
 */
import type { webApi } from '@slack/bolt';
import type { Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { RETRY_UNSUPPORTED_MS, slackErrorCode } from './errors.ts';

const UNSUPPORTED = new Set(['unknown_method', 'missing_scope', 'not_allowed_token_type']);

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
}
