/**
 * Crash recovery on Slack: ends an answer another process left half-written.
 * A native stream still open is closed with the note as its last text (it
 * keeps all that was streamed). Any other message is rewritten from data, the
 * answer's recorded text and the note, never from what it showed; buttons go.
 * The "Thinking…"/Stop message beside a stream is removed, or carries the
 * note when the stream never started. The note's block has an id of ours, so
 * a repeated mark of a rewritten message finds it and changes nothing.
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

/** Marks the note's block, so a later sweep sees the message is already ended (a fact we own, not text). */
export const INTERRUPTED_BLOCK_ID = 'switchboard_interrupted';

interface Deps {
  client: webApi.WebClient;
  logger: Logger;
}

export async function markInterrupted(deps: Deps, ref: string, ending: InterruptedEnding): Promise<void> {
  const target = parseSlackMessageRef(ref);
  const { channel, thread } = target;
  // The stream never started: the "Thinking…" message is all there is, so it carries the note.
  const ts = target.ts ?? target.control;
  if (ts === undefined) return;
  const state = await messageState(deps, channel, ts, thread);
  if (state === 'gone') deps.logger.info({ channel, ts }, 'interrupted answer message is gone; nothing to mark');
  // A stream still open is closed with the note: it keeps everything streamed, which may be more than the last recorded body.
  const closed = state === 'open' && target.streaming === true && (await closeStream(deps, channel, ts, ending.note));
  if (state === 'open' && !closed) {
    await rewrite(deps, channel, ts, target.ts === undefined ? { body: null, note: ending.note } : ending, target.header);
  }
  if (target.ts !== undefined && target.control !== undefined) {
    await deps.client.chat.delete({ channel, ts: target.control }).catch((error: unknown) => {
      deps.logger.debug({ err: error }, 'could not delete the thinking/stop message');
    });
  }
}

/** Whether the message is still there and whether an earlier sweep already ended it. */
async function messageState(deps: Deps, channel: string, ts: string, thread: string | undefined): Promise<'gone' | 'marked' | 'open'> {
  try {
    // conversations.replies finds a thread reply and a top-level message alike (as the thread's parent).
    const result = await slackCall(() => deps.client.conversations.replies({ channel, ts: thread ?? ts, oldest: ts, latest: ts, inclusive: true, limit: 2 }));
    const message = result.messages?.find((m) => m.ts === ts);
    if (!message) return 'gone';
    return message.blocks?.some((block) => block.block_id === INTERRUPTED_BLOCK_ID) ? 'marked' : 'open';
  } catch (error) {
    if (toSurfaceError(error) instanceof MessageGoneError) return 'gone';
    throw error;
  }
}

/** Ends an open stream with the note as its last text; false when it is no longer open (it expired). */
async function closeStream(deps: Deps, channel: string, ts: string, note: string): Promise<boolean> {
  try {
    await slackCall(() => deps.client.chat.stopStream({ channel, ts, markdown_text: `\n\n${note}` }));
    return true;
  } catch (error) {
    deps.logger.debug({ err: error, code: slackErrorCode(error) }, 'could not close the interrupted stream');
    return false;
  }
}

/** Replaces the message with the recorded body and the note; a message that is gone is left alone. */
async function rewrite(deps: Deps, channel: string, ts: string, ending: InterruptedEnding, header?: string): Promise<void> {
  const body = ending.body?.trimEnd() ?? '';
  const blocks: types.KnownBlock[] = [];
  if (header !== undefined) blocks.push(headerBlock(header));
  if (body !== '') blocks.push(...sectionBlocks(body));
  blocks.push(contextBlock(ending.note, INTERRUPTED_BLOCK_ID));
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
