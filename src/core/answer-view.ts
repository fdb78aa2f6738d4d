/**
 * An answer is data until the last moment: the renderer hands each message
 * of an answer to its surface as a MessageView (the answer text of that
 * message plus status, footer fields, end line and whether it still streams),
 * and each platform formats it its own way. Nothing reads our own output back:
 * what we said is kept in the store (answer records), never re-parsed.
 *
 * formatAnswerText is the plain-text formatting the terminal and Discord use,
 * and what the renderer measures decorations with when a surface has none.
 */
import { truncate } from '../util/text.ts';
import { formatImageProblems, type AnswerImages } from './answer-images.ts';
import { formatUsd } from './quota.ts';

/** The facts under a finished (or failed) answer. */
export interface AnswerFooter {
  /** The model that answered (a fallback's id when one answered). */
  model: string;
  /** The model that was asked for. */
  modelRequested: string;
  isFallback: boolean;
  tokensIn: number;
  tokensOut: number;
  /** Completion tokens spent thinking (reasoning models); 0 or absent when none. */
  reasoningTokens?: number;
  /** Prompt tokens read from the provider's cache (part of tokensIn); 0 or absent when none. */
  cachedTokens?: number;
  /** null when nobody knows (no usage from OpenRouter, no catalog price). */
  costUsd: number | null;
  ms: number;
  /** Earlier messages dropped to fit the model's context. */
  trimmed: number;
  /** The channel's model, which cannot see images, when its `vision-model` answered instead. */
  visionFor?: string;
  /**
   * The model's reasoning, kept under the answer collapsed (reasoning display
   * `spoiler`): a Discord spoiler, dimmed in the terminal, a Slack context block.
   */
  reasoning?: string;
}

/** The last line of an answer that did not end normally. */
export interface EndLine {
  kind: 'error' | 'stopped' | 'interrupted';
  text: string;
}

/** A source an answer cites, numbered by its place in `sources` (the answer's `[1]` is the first). */
export interface AnswerSource {
  /** The number shown, matching the answer's `[n]` markers (see core/sources.ts); not always 1..N without gaps. */
  n: number;
  title: string;
  url: string;
}

/** One message of an answer, as the renderer wants it shown. */
export interface MessageView {
  /** The answer text in this message ('' before the first text arrives). */
  body: string;
  /** The answer is still streaming into this message (a cursor, a placeholder while body is ''). */
  streaming: boolean;
  /** A transient line under the text while streaming (tool progress), or null. */
  status: string | null;
  /** Set on the last message once the answer has ended. */
  footer: AnswerFooter | null;
  /** Set on the last message of an answer that failed, was stopped or interrupted. */
  endLine: EndLine | null;
  /** The answer has ended (finished or failed) and this is its last message. */
  final: boolean;
  /** Sources cited (web search), shown under the final message; absent or empty: none. */
  sources?: readonly AnswerSource[];
  /**
   * Pictures the model returned, on the final message only: each surface
   * uploads `files` its own way (Discord attachments, Slack files in the
   * thread, saved files in the terminal); `problems` are shown as text.
   */
  images?: AnswerImages;
}

/** How one numbered source is written; each platform picks its own (links that do not unfold, plain lines). */
export type SourceLine = (source: AnswerSource) => string;

/** "[1] Title: https://…", the plain form (the terminal). */
export const plainSourceLine: SourceLine = (source) => `[${source.n}] ${oneLine(source.title)}: ${source.url}`;

/** "Sources:" and one numbered line per source; '' when there are none. */
export function formatSources(sources: readonly AnswerSource[] | undefined, line: SourceLine = plainSourceLine): string {
  if (!sources || sources.length === 0) return '';
  return ['Sources:', ...sources.map((source) => line(source))].join('\n');
}

/** A title on one line, without characters that would break a link or a list. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export const PLACEHOLDER_TEXT = '…thinking';
export const CURSOR = '▍';
export const EMPTY_ANSWER_TEXT = '(no answer)';
const SEPARATOR = '\n\n';

export function formatTokens(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toLocaleString('en-US');
}

/** "model · 12.0k in (10.0k cached) / 34 out · $0.0001 · 1.2 s", the line under every finished answer. */
export function formatFooterText(footer: AnswerFooter): string {
  const model = footer.isFallback ? `${footer.model} (fallback for ${footer.modelRequested})` : footer.model;
  const vision = footer.visionFor ? ` · vision model here: ${footer.visionFor} cannot see images` : '';
  const cost = footer.costUsd === null ? 'cost unknown' : formatUsd(footer.costUsd);
  const reasoning = footer.reasoningTokens ? `, ${formatTokens(footer.reasoningTokens)} reasoning` : '';
  const cached = footer.cachedTokens ? ` (${formatTokens(footer.cachedTokens)} cached)` : '';
  const trimmed = footer.trimmed > 0 ? ` · dropped ${footer.trimmed} earlier message${footer.trimmed === 1 ? '' : 's'} to fit` : '';
  return `${model} · ${formatTokens(footer.tokensIn)} in${cached} / ${formatTokens(footer.tokensOut)} out${reasoning} · ${cost} · ${(footer.ms / 1000).toFixed(1)} s${trimmed}${vision}`;
}

/** Longest reasoning kept under an answer (it shares the message with the answer's last piece). */
export const REASONING_MAX = 700;

/** The reasoning as one collapsed block's text: trimmed and cut to REASONING_MAX; '' when there is none. */
export function reasoningText(footer: AnswerFooter | null): string {
  const text = footer?.reasoning?.trim() ?? '';
  return text === '' ? '' : `💭 ${truncate(text, REASONING_MAX)}`;
}

/** A Discord spoiler (`||…||`): hidden until clicked. A `||` inside would close it early. */
export function formatReasoningSpoiler(footer: AnswerFooter | null): string {
  const text = reasoningText(footer);
  return text === '' ? '' : `||${text.replace(/\|\|/g, '|\u200b|')}||`;
}

/** The decorations around a message's body, as plain text. */
export function formatDecorations(
  view: MessageView,
  footerText: (footer: AnswerFooter) => string = formatFooterText,
  sourceLine: SourceLine = plainSourceLine,
): { cursor: string; after: string } {
  const { cursor, after } = decorationsOf(view, footerText);
  const sources = view.streaming ? '' : formatSources(view.sources, sourceLine);
  const images = view.streaming ? '' : formatImageProblems(view.images);
  const before = [sources, images].filter((part) => part !== '').map((part) => SEPARATOR + part).join('');
  return { cursor, after: before + after };
}

function decorationsOf(view: MessageView, footerText: (footer: AnswerFooter) => string): { cursor: string; after: string } {
  let cursor = '';
  let after = '';
  if (view.streaming) {
    cursor = ` ${CURSOR}`;
    if (view.status !== null) after = SEPARATOR + view.status;
  } else if (view.endLine) {
    const footer = view.footer ? footerText(view.footer) : '';
    // An interruption is the last thing people should read; other end lines go above the footer.
    const lines = view.endLine.kind === 'interrupted' ? [footer, view.endLine.text] : [view.endLine.text, footer];
    after = [formatReasoningSpoiler(view.footer), ...lines].filter((line) => line !== '').map((line) => SEPARATOR + line).join('');
  } else if (view.footer) {
    after = [formatReasoningSpoiler(view.footer), footerText(view.footer)].filter((line) => line !== '').map((line) => SEPARATOR + line).join('');
  }
  return { cursor, after };
}

/** The plain-text form of a message: body, cursor (or placeholder), status, end line and footer. */
export function formatAnswerText(
  view: MessageView,
  footerText: (footer: AnswerFooter) => string = formatFooterText,
  sourceLine: SourceLine = plainSourceLine,
): string {
  const { cursor, after } = formatDecorations(view, footerText, sourceLine);
  const body = view.body.trimEnd();
  if (body === '') {
    const head = view.streaming ? PLACEHOLDER_TEXT : view.final && after === '' ? EMPTY_ANSWER_TEXT : '';
    return (head + after).replace(/^\n+/, '');
  }
  const cursorPart = cursor === '' ? '' : endsWithFenceLine(body) ? `\n${cursor.trimStart()}` : cursor;
  return body + cursorPart + after;
}

function endsWithFenceLine(text: string): boolean {
  const lastLine = text.slice(text.lastIndexOf('\n') + 1);
  return /^ {0,3}(`{3,}|~{3,})/.test(lastLine);
}
