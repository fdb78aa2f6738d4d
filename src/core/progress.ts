/**
 * What an answer is busy with while no text flows: a tool running, a web
 * search. The pipeline shows it as the status line ("🔧 calculator…",
 * "🔎 searching…") and hands it, as data, to surfaces that show progress
 * their own way (Slack's assistant thread status), so nothing parses the line.
 */
export type AnswerProgress = { kind: 'tool'; tool: string } | { kind: 'searching' };

/** The status line while web search runs (until the first text). */
export const SEARCHING_STATUS = '🔎 searching…';

/** The status line of a progress step, the same on every platform. */
export function progressLine(progress: AnswerProgress): string {
  return progress.kind === 'searching' ? SEARCHING_STATUS : `🔧 ${progress.tool}…`;
}
