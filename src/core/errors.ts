import { randomBytes } from 'node:crypto';

export type UserFacingCode =
  | 'not-admin'
  | 'quota'
  | 'bad-input'
  | 'unknown-model'
  | 'unknown-command'
  | 'busy'
  | 'not-found'
  | 'not-allowed'
  | 'restarting';

/**
 * An expected outcome (quota reached, unknown model, not an admin): shown only
 * to the person who triggered it, never logged as an error.
 */
export class UserFacingError extends Error {
  /** What may be said where others read along (a reply in a channel): no amounts, nothing personal. Defaults to the message. */
  readonly publicMessage: string;

  constructor(
    readonly code: UserFacingCode,
    message: string,
    options?: { cause?: unknown; publicMessage?: string },
  ) {
    super(message, options);
    this.name = 'UserFacingError';
    this.publicMessage = options?.publicMessage ?? message;
  }
}

/** What anyone who asks is told while the process shuts down (see Core.draining). */
export const RESTARTING_MESSAGE = 'The bot is restarting and is not taking new requests right now; try again in a minute.';

export function restartingError(): UserFacingError {
  return new UserFacingError('restarting', RESTARTING_MESSAGE);
}

/** A short id to find an unexpected error in the log. */
export function newErrorId(): string {
  return randomBytes(4).toString('hex');
}

export function genericErrorMessage(errorId: string): string {
  return `Something went wrong on our side (error id ${errorId}). An admin can find it in the log.`;
}
