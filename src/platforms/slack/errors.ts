/** Slack Web API errors in the core's terms. */
import { MessageGoneError, PlatformRateLimitError } from '../../core/types.ts';

/** Platform errors meaning the message or its channel can no longer be written. */
export const GONE_ERRORS = new Set([
  'message_not_found',
  'channel_not_found',
  'thread_not_found',
  'is_archived',
  'cant_update_message',
  'not_in_channel',
  'edit_window_closed',
]);
/** A native stream Slack closed on its own (it expired). */
export const STREAM_EXPIRED = 'message_not_in_streaming_state';

/** After Slack refuses chat.startStream or assistant status, try it again after this long. */
export const RETRY_UNSUPPORTED_MS = 10 * 60 * 1000;

/** The Slack error code of a WebClient error, if any. */
export function slackErrorCode(error: unknown): string | undefined {
  const data = (error as { data?: { error?: unknown } } | undefined)?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}

/** Turns WebClient errors into the core's surface errors (429 -> PlatformRateLimitError, gone -> MessageGoneError). */
export function toSurfaceError(error: unknown): unknown {
  const coded = error as { code?: string; retryAfter?: number } | undefined;
  if (coded?.code === 'slack_webapi_rate_limited_error') {
    return new PlatformRateLimitError(Math.max(1, coded.retryAfter ?? 1) * 1000, { cause: error });
  }
  const code = slackErrorCode(error);
  if (code && GONE_ERRORS.has(code)) return new MessageGoneError(`Slack: ${code}`, { cause: error });
  return error;
}
