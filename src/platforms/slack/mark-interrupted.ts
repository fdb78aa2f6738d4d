/**
 * Crash recovery on Slack: ends an answer another process left half-written
 * with the interrupted note. A native stream still open is closed with the
 * note as its last text; any other message is read back and updated (buttons
 * removed); the "Thinking…"/Stop message beside a stream is removed, or shows
 * the note when the stream never started.
 */
import type { types, webApi } from '@slack/bolt';
import { withInterruptedNote } from '../../core/recovery.ts';
import { PlatformRateLimitError } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import { slackErrorCode, toSurfaceError, type SlackMessageRef } from './surface.ts';

/** chat.update's top-level text and a section block's text, as the surface keeps them. */
const TEXT_LIMIT = 3_900;
const SECTION_LIMIT = 3_000;
const MAX_RATE_LIMITS = 5;
const messageArgs = { parse: 'none', link_names: false, unfurl_links: false, unfurl_media: false } as const;

export function parseSlackMessageRef(ref: string): SlackMessageRef {
  const parsed = JSON.parse(ref) as Partial<Record<keyof SlackMessageRef, unknown>>;
  const optional = (value: unknown) => (typeof value === 'string' ? value : undefined);
  if (typeof parsed.channel !== 'string') throw new TypeError(`not a Slack message reference: ${ref.slice(0, 100)}`);
  return {
    channel: parsed.channel,
    ts: optional(parsed.ts),
    thread: optional(parsed.thread),
    control: optional(parsed.control),
    streaming: parsed.streaming === true,
  };
}

export async function markInterrupted(deps: { client: webApi.WebClient; logger: Logger }, ref: string, note: string): Promise<void> {
  const { client, logger } = deps;
  const target = parseSlackMessageRef(ref);
  const { channel } = target;
  if (target.ts === undefined) {
    // The stream never started: the "Thinking…" message is all there is, so it carries the note.
    if (target.control !== undefined) await updateWithNote(client, channel, target.control, target.thread, note, logger);
    return;
  }
  let done = false;
  if (target.streaming) {
    try {
      await slackCall(() => client.chat.stopStream({ channel, ts: target.ts!, markdown_text: `\n\n${note}` }));
      done = true;
    } catch (error) {
      // Already closed (it expired, or an earlier sweep closed it): update it instead.
      logger.debug({ err: error, code: slackErrorCode(error) }, 'could not close the interrupted stream');
    }
  }
  if (!done) await updateWithNote(client, channel, target.ts, target.thread, note, logger);
  if (target.control !== undefined) {
    await client.chat.delete({ channel, ts: target.control }).catch((error: unknown) => {
      logger.debug({ err: error }, 'could not delete the thinking/stop message');
    });
  }
}

interface SlackMessage {
  ts?: string;
  text?: string;
  blocks?: types.KnownBlock[];
}

async function updateWithNote(
  client: webApi.WebClient,
  channel: string,
  ts: string,
  thread: string | undefined,
  note: string,
  logger: Logger,
): Promise<void> {
  // conversations.replies finds a thread reply and a top-level message alike (as the thread's parent).
  let message: SlackMessage | undefined;
  try {
    const result = await slackCall(() =>
      client.conversations.replies({ channel, ts: thread ?? ts, oldest: ts, latest: ts, inclusive: true, limit: 2 }),
    );
    message = (result.messages as SlackMessage[] | undefined)?.find((m) => m.ts === ts);
  } catch (error) {
    if (slackErrorCode(error) !== 'thread_not_found') throw error;
  }
  if (!message) {
    logger.info({ channel, ts }, 'interrupted answer message is gone; nothing to mark');
    return;
  }
  const text = withInterruptedNote(message.text ?? '', note, TEXT_LIMIT);
  if (text === undefined) return;
  const blocks = message.blocks?.filter((block) => block.type !== 'actions');
  if (blocks) {
    const last = blocks.findLastIndex((block) => block.type === 'section');
    const section = blocks[last];
    if (section?.type === 'section' && section.text) {
      const ended = withInterruptedNote(section.text.text, note, SECTION_LIMIT);
      if (ended !== undefined) blocks[last] = { ...section, text: { ...section.text, text: ended } };
    } else {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: note, verbatim: true } });
    }
  }
  try {
    await slackCall(() => client.chat.update({ channel, ts, text, ...(blocks ? { blocks } : {}), ...messageArgs }));
  } catch (error) {
    if (slackErrorCode(error) === 'message_not_found') return;
    throw error;
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
