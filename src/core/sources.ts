/**
 * The sources under an answer, from the citations OpenRouter's web search
 * attached. Each URL is listed once, numbered in order of first appearance in
 * the answer text (its `start_index`; arrival order when none is given), so
 * that the first source cited is [1], the way models number their markers.
 */
import type { Citation } from '../llm/types.ts';
import type { AnswerSource } from './answer-view.ts';

/** More would crowd the message; the rest are dropped. */
export const MAX_SOURCES = 20;

export function numberSources(citations: readonly Citation[]): AnswerSource[] {
  const first = new Map<string, { title: string; at: number; arrival: number }>();
  citations.forEach((citation, arrival) => {
    const key = citation.url.trim();
    const at = citation.startIndex ?? Number.POSITIVE_INFINITY;
    const seen = first.get(key);
    if (!seen) first.set(key, { title: citation.title, at, arrival });
    else if (at < seen.at) seen.at = at;
  });
  return [...first.entries()]
    .sort(([, a], [, b]) => a.at - b.at || a.arrival - b.arrival)
    .slice(0, MAX_SOURCES)
    .map(([url, { title }]) => ({ title, url }));
}
