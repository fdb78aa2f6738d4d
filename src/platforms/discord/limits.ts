/** Discord's numbers and the message-body constants every writer shares. */

export const PLATFORM = 'discord';
/** Discord's own notation for "not in a guild"; every DM shares this workspace. */
export const DM_WORKSPACE = '@me';
export const MAX_MESSAGE_LENGTH = 2000;
/** About 5 sends/edits per 5 s per channel (observed, not documented). */
export const CHANNEL_RATE_LIMIT = { count: 5, windowMs: 5000 } as const;
/** Never ping anyone: model output may contain @everyone, roles or user mentions. */
export const NO_MENTIONS: { parse: [] } = { parse: [] };

export function budgetKeyFor(channelId: string): string {
  return `${PLATFORM}:${channelId}`;
}
