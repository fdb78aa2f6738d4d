/**
 * Crash recovery on Slack: ends an answer another process left half-written.
 * The message is rewritten from data (the answer's recorded text and the
 * note), never from what it showed: a native stream still open is closed
 * first, buttons go, and the "Thinking…"/Stop message beside a stream is
 * removed, or carries the note when the stream never started.
 */
import type { types, webApi } from '@slack/bolt';
import { MessageGoneError, PlatformRateLimitError } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { contextBlock, fallbackText, headerBlock, sectionBlocks } from './blocks.ts';
import { slackErrorCode, toSurfaceError } from './errors.ts';
import { parseSlackMessageRef } from './message-ref.ts';
import { markdownToMrkdwn } from './mrkdwn.ts';
import { messageArgs } from './native-stream.ts';

export { parseSlackMessageRef } from './message-ref.ts';

const MAX_RATE_LIMITS = 5;

export interface InterruptedEnding {
  body: string | null;
  note: string;
}

export async function markInterrupted(deps: { client: webApi.WebClient; logger: Logger }, ref: string, ending: InterruptedEnding): Promise<void> {
  const { client, logger } = deps;
  const target = parseSlackMessageRef(ref);
  const { channel } = target;
  if (target.ts === undefined) {
    // The stream never started: the "Thinking…" message is all there is, so it carries the note.
    if (target.control !== undefined) await rewrite(deps, channel, target.control, { body: null, note: ending.note });
    return;
  }
  if (target.streaming) {
    const ts = target.ts;
    await slackCall(() => client.chat.stopStream({ channel, ts })).catch((error: unknown) => {
      // Already closed (it expired, or an earlier sweep closed it).
      logger.debug({ err: error, code: slackErrorCode(error) }, 'could not close the interrupted stream');
    });
  }
  await rewrite(deps, channel, target.ts, ending, target.header);
  if (target.control !== undefined) {
    await client.chat.delete({ channel, ts: target.control }).catch((error: unknown) => {
      logger.debug({ err: error }, 'could not delete the thinking/stop message');
    });
  }
}

/** Replaces the message with the recorded body and the note; a message that is gone is left alone. */
async function rewrite(deps: { client: webApi.WebClient; logger: Logger }, channel: string, ts: string, ending: InterruptedEnding, header?: string): Promise<void> {
  const body = ending.body?.trimEnd() ?? '';
  const blocks: types.KnownBlock[] = [];
  if (header !== undefined) blocks.push(headerBlock(header));
  if (body !== '') blocks.push(...sectionBlocks(body));
  blocks.push(contextBlock(ending.note));
  const text = fallbackText(markdownToMrkdwn(body === '' ? ending.note : `${body}\n\n${ending.note}`));
  try {
    await slackCall(() => deps.client.chat.update({ channel, ts, text, blocks, ...messageArgs }));
  } catch (error) {
    if (!(toSurfaceError(error) instanceof MessageGoneError)) throw error;
    deps.logger.info({ channel, ts }, 'interrupted answer message is gone; nothing to mark');
  }
}

/** One Web API call with 429s waited out (the adapter's client rejects rate-limited calls). */
async function slackCall<T>(fn: () => Promise<T>): Promise<T> {
  for (let rateLimits = 0; ; rateLimits++) {
    try {
      return await fn();
    } catch (error) {
      const mapped = toSurfaceError(error);
      if (!(mapped instanceof PlatformRateLimitError) || rateLimits >= MAX_RATE_LIMITS) throw error;
      await new Promise((resolve) => setTimeout(resolve, mapped.retryAfterMs));
    }
  }
}
