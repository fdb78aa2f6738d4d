/**
 * The sources under an answer, from the citations OpenRouter's web search
 * attached, numbered so that the answer's own `[n]` markers point at the
 * right link. Streamed text is never rewritten (a Slack native stream cannot
 * be), so the numbers follow the model rather than the other way round:
 *
 * 1. a marker written as a link, `[2](https://…)`, names its source outright;
 * 2. a citation whose span (`start_index`..`end_index`) holds a marker, or is
 *    followed by one, takes that marker's number;
 * 3. every other source takes the lowest free number, in order of first
 *    appearance in the text (`start_index`; arrival order without one) — the
 *    way models number markers when they number them in order of use.
 *
 * Each URL is listed once.
 */
import type { Citation } from '../llm/types.ts';
import type { AnswerSource } from './answer-view.ts';

/** More would crowd the message; the rest are dropped. */
export const MAX_SOURCES = 20;

/** How far after a citation's span a marker still belongs to it ("…fast. [2]"). */
const TRAILING_MARKER_WINDOW = 6;
/** Markers past this are not source numbers (years in brackets, list items). */
const MAX_MARKER = 99;

interface Cited {
  url: string;
  title: string;
  at: number;
  arrival: number;
  spans: Array<{ start: number; end: number }>;
}

export function numberSources(citations: readonly Citation[], answerText = ''): AnswerSource[] {
  const byUrl = new Map<string, Cited>();
  citations.forEach((citation, arrival) => {
    const url = citation.url.trim();
    const at = citation.startIndex ?? Number.POSITIVE_INFINITY;
    let cited = byUrl.get(url);
    if (!cited) {
      cited = { url, title: citation.title, at, arrival, spans: [] };
      byUrl.set(url, cited);
    } else if (at < cited.at) cited.at = at;
    if (citation.startIndex !== undefined) {
      cited.spans.push({ start: citation.startIndex, end: citation.endIndex ?? citation.startIndex });
    }
  });

  const numberOf = new Map<string, number>();
  const taken = new Set<number>();
  const assign = (url: string, n: number): void => {
    if (numberOf.has(url) || taken.has(n)) return;
    numberOf.set(url, n);
    taken.add(n);
  };

  for (const { n, url } of linkedMarkers(answerText)) if (byUrl.has(url)) assign(url, n);
  for (const cited of byUrl.values()) {
    for (const span of cited.spans) {
      const n = markerFor(answerText, span, taken);
      if (n !== undefined) {
        assign(cited.url, n);
        break;
      }
    }
  }

  const inOrder = [...byUrl.values()].sort((a, b) => a.at - b.at || a.arrival - b.arrival);
  let next = 1;
  for (const cited of inOrder) {
    if (numberOf.has(cited.url)) continue;
    while (taken.has(next)) next++;
    assign(cited.url, next);
  }

  return inOrder
    .map((cited) => ({ n: numberOf.get(cited.url) ?? 0, title: cited.title, url: cited.url }))
    .sort((a, b) => a.n - b.n)
    .slice(0, MAX_SOURCES);
}

/** `[n](url)` links in the answer: the model said which source it means. */
function linkedMarkers(text: string): Array<{ n: number; url: string }> {
  const out: Array<{ n: number; url: string }> = [];
  for (const match of text.matchAll(/\[(\d{1,2})\]\(<?(https?:\/\/[^\s)>]+)>?\)/g)) {
    const n = Number(match[1]);
    if (n >= 1 && n <= MAX_MARKER) out.push({ n, url: match[2]! });
  }
  return out;
}

/** The first free `[n]` inside a citation's span or just after it. */
function markerFor(text: string, span: { start: number; end: number }, taken: ReadonlySet<number>): number | undefined {
  if (text === '' || span.start < 0 || span.start >= text.length) return undefined;
  const end = Math.max(span.start, Math.min(span.end, text.length));
  const window = text.slice(span.start, end + TRAILING_MARKER_WINDOW);
  for (const match of window.matchAll(/\[(\d{1,2})\](?!\()/g)) {
    const n = Number(match[1]);
    // A marker found after the span must start right after it (spaces and punctuation only between).
    const offset = span.start + match.index;
    if (offset >= end && /[^\s.,;:!?)]/.test(text.slice(end, offset))) break;
    if (n >= 1 && n <= MAX_MARKER && !taken.has(n)) return n;
  }
  return undefined;
}
