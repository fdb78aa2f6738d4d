/**
 * An answer message as Slack blocks, built from the renderer's MessageView
 * (answer-view.ts): body as section blocks, the streaming status, end line and
 * footer as context blocks, buttons as an actions block. Nothing here reads
 * text we wrote before.
 */
import { formatImageProblems } from '../../core/answer-images.ts';
import type { types } from '@slack/bolt';
import {
  EMPTY_ANSWER_TEXT,
  formatAnswerText,
  formatFooterText,
  oneLine,
  PLACEHOLDER_TEXT,
  reasoningText,
  type AnswerSource,
  type EndLine,
  type MessageView,
} from '../../core/answer-view.ts';
import type { MessageAction } from '../../core/types.ts';
import { defuseBroadcasts, escapeMrkdwn, markdownToMrkdwn, neutralizeMentions } from './mrkdwn.ts';

/** Section block text limit. */
export const SECTION_LIMIT = 3_000;
/** Top-level `text` kept under chat.update's limit (it is the notification and history text). */
export const TEXT_LIMIT = 3_900;
/** Context block element text limit. */
const CONTEXT_LIMIT = 2_000;

export const ACTION_PREFIX = 'switchboard_';
/** Marks the small "Stop" message shown beside a native stream. */
export const CONTROL_BLOCK_ID = 'switchboard_control';

/** Splits mrkdwn into pieces of at most `limit`, at a line break or space, never inside `&...;` or `<...>`. */
export function splitMrkdwn(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    let cut = rest.lastIndexOf('\n', limit);
    if (cut < limit / 2) cut = rest.lastIndexOf(' ', limit);
    if (cut < limit / 2) cut = limit;
    const head = rest.slice(0, cut);
    const amp = head.lastIndexOf('&');
    if (amp >= 0 && !head.includes(';', amp)) cut = amp;
    const open = rest.slice(0, cut).lastIndexOf('<');
    if (open > 0 && !rest.slice(open, cut).includes('>')) cut = open;
    if (cut <= 0) cut = limit;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  pieces.push(rest);
  return pieces;
}

/** The top-level text of a message (notifications, clients without blocks): cut under Slack's limit. */
export function fallbackText(mrkdwn: string): string {
  const text = mrkdwn.length > TEXT_LIMIT ? `${splitMrkdwn(mrkdwn, TEXT_LIMIT - 1)[0]}…` : mrkdwn;
  return text.trim() === '' ? '…' : text;
}

/** The platform text of a view: the plain-text form, in mrkdwn. */
export function formatView(view: MessageView): string {
  return markdownToMrkdwn(formatAnswerText(view));
}

/** Our own line (footer, status, end line) as a context block: escaped, nothing in it can ping anyone. */
export function contextBlock(text: string, blockId?: string): types.ContextBlock {
  const safe = escapeMrkdwn(neutralizeMentions(text)).slice(0, CONTEXT_LIMIT);
  return { type: 'context', ...(blockId ? { block_id: blockId } : {}), elements: [{ type: 'mrkdwn', text: safe, verbatim: true }] };
}

/** Markdown as section blocks (at least one). */
export function sectionBlocks(markdown: string): types.SectionBlock[] {
  const mrkdwn = markdownToMrkdwn(markdown);
  return splitMrkdwn(mrkdwn.trim() === '' ? '…' : mrkdwn, SECTION_LIMIT).map((piece) => ({
    type: 'section',
    text: { type: 'mrkdwn', text: piece.trim() === '' ? '…' : piece, verbatim: true },
  }));
}

/** "Alice asked: …" above an /ask answer (the question is the asker's text: broadcasts defused). */
export function headerBlock(header: string): types.ContextBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: defuseBroadcasts(escapeMrkdwn(header)).slice(0, CONTEXT_LIMIT), verbatim: true }] };
}

/**
 * The lines under an ended answer: the end line above the footer, except an
 * interruption, which is the last thing people should read.
 */
export function endBlocks(end: { footer: MessageView['footer']; endLine: EndLine | null }): types.ContextBlock[] {
  const footer = end.footer ? formatFooterText(end.footer) : null;
  const line = end.endLine?.text ?? null;
  // The model's reasoning (display `spoiler`) sits small and grey under the answer, above the rest.
  const reasoning = reasoningText(end.footer);
  const ordered = [reasoning, ...(end.endLine?.kind === 'interrupted' ? [footer, line] : [line, footer])];
  return ordered.filter((text): text is string => text !== null && text !== '').map((text) => contextBlock(text));
}

/**
 * The sources under an answer as one context block of links, "[1] <url|Title>",
 * numbered like the answer's markers. Titles are escaped and cannot ping; a URL
 * cannot break out of its link. None when there are no sources.
 */
export function sourcesBlocks(sources: readonly AnswerSource[] | undefined): types.ContextBlock[] {
  if (!sources || sources.length === 0) return [];
  const lines = sources.map((source) => {
    const title = escapeMrkdwn(neutralizeMentions(oneLine(source.title))).replace(/\|/g, '¦');
    const url = source.url.replace(/[\s<>|]/g, encodeURIComponent);
    return `[${source.n}] <${url}|${title}>`;
  });
  const text = ['*Sources*', ...lines].join('\n');
  return [{ type: 'context', block_id: 'switchboard_sources', elements: [{ type: 'mrkdwn', text: text.slice(0, CONTEXT_LIMIT), verbatim: true }] }];
}

/** What became of pictures the model returned that could not be shown, as one context block; none when all were fine. */
export function imageProblemBlocks(images: MessageView['images']): types.ContextBlock[] {
  const text = formatImageProblems(images);
  return text === '' ? [] : [contextBlock(text, 'switchboard_images')];
}

/** The blocks of one answer message. */
export function viewBlocks(view: MessageView): types.KnownBlock[] {
  const blocks: types.KnownBlock[] = [];
  const body = view.body.trimEnd();
  if (body !== '') blocks.push(...sectionBlocks(body));
  else if (view.streaming) blocks.push(...sectionBlocks(PLACEHOLDER_TEXT));
  else if (view.final && !view.endLine && !view.images?.files.length) blocks.push(...sectionBlocks(EMPTY_ANSWER_TEXT));
  if (view.streaming) {
    if (view.status !== null) blocks.push(contextBlock(view.status));
  } else {
    blocks.push(...sourcesBlocks(view.sources), ...imageProblemBlocks(view.images), ...endBlocks(view));
  }
  return blocks;
}

export function actionsBlock(actions: MessageAction[], requestId: string): types.ActionsBlock {
  return {
    type: 'actions',
    block_id: 'switchboard_actions',
    elements: actions.map((action) => ({
      type: 'button' as const,
      action_id: `${ACTION_PREFIX}${action.id}`,
      text: { type: 'plain_text', text: action.label.slice(0, 75), emoji: true },
      value: requestId,
      ...(action.id === 'stop' || action.id === 'deny' ? { style: 'danger' as const } : action.id === 'allow' ? { style: 'primary' as const } : {}),
    })),
  };
}

/** 👍/👎 under a finished answer (the core stores one vote per person per answer). */
export function feedbackBlock(requestId: string): types.ActionsBlock {
  const button = (id: 'feedback_up' | 'feedback_down', emoji: string) => ({
    type: 'button' as const,
    action_id: `${ACTION_PREFIX}${id}`,
    text: { type: 'plain_text' as const, text: emoji, emoji: true },
    value: requestId,
  });
  return { type: 'actions', block_id: 'switchboard_feedback', elements: [button('feedback_up', '👍'), button('feedback_down', '👎')] };
}
