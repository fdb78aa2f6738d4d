/**
 * Discord's error codes that change what the adapter does, in one place.
 */
import { DiscordAPIError, RateLimitError, RESTJSONErrorCodes } from 'discord.js';

/** The interaction token expired (15 minutes) or is invalid: continue with the bot token. */
export function isTokenExpired(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.code === RESTJSONErrorCodes.InvalidWebhookToken ||
      error.code === RESTJSONErrorCodes.UnknownWebhook ||
      (error.status === 401 && /\/webhooks\//.test(error.url)))
  );
}

/** 30046: too many edits to a message older than an hour: post a new message instead. */
export function isOldMessageEditLimit(error: unknown): boolean {
  return error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.MaximumNumberOfEditsToMessagesOlderThanOneHourReached;
}

/** The message (or its channel) is gone. */
export function isGone(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.code === RESTJSONErrorCodes.UnknownMessage ||
      error.code === RESTJSONErrorCodes.UnknownChannel)
  );
}

/** 50001 Missing Access, 50013 Missing Permissions. */
export function isMissingPermissions(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.code === RESTJSONErrorCodes.MissingAccess || error.code === RESTJSONErrorCodes.MissingPermissions)
  );
}

/** The bot may not edit this message through the channel (someone else's, or a webhook's). */
export function isNotEditable(error: unknown): boolean {
  return error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.CannotEditMessageAuthoredByAnotherUser;
}

/**
 * Discord refused a message because of its files: no Attach Files permission
 * (50013, also when the error was already translated and is the cause), too
 * large (413 / 40005), or an invalid form (50035, e.g. too many files).
 */
export function isUploadRefused(error: unknown): boolean {
  const cause = error instanceof DiscordAPIError ? error : (error as { cause?: unknown } | undefined)?.cause;
  if (!(cause instanceof DiscordAPIError)) return false;
  return (
    cause.status === 413 ||
    cause.code === RESTJSONErrorCodes.RequestEntityTooLarge ||
    cause.code === RESTJSONErrorCodes.MissingPermissions ||
    cause.code === RESTJSONErrorCodes.InvalidFormBodyOrContentType
  );
}

export function isRateLimit(error: unknown): error is RateLimitError {
  return error instanceof RateLimitError;
}

/** 10062: the interaction was not acknowledged within 3 s (or is unknown). */
export function isUnknownInteraction(error: unknown): boolean {
  return error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.UnknownInteraction;
}

export function describeDiscordError(error: unknown): string {
  if (error instanceof DiscordAPIError) return `${error.status} ${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** What to tell someone when the bot lacks permissions in a channel. */
export const MISSING_PERMISSIONS_MESSAGE =
  "I can't post in this channel: I'm missing permissions here. Ask a server admin to give me View Channel, Send Messages, Send Messages in Threads, Create Public Threads and Read Message History in this channel.";
