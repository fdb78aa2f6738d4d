/**
 * History assembly and trimming. The adapter says which messages belong to a
 * conversation (a thread, a reply chain); the core turns them into the message
 * list and trims the oldest turns to fit the model's context.
 */
import { partsText, type ChatMessage, type MessagePart } from '../llm/types.ts';
import type { InboundAttachment } from './attachments.ts';
import { UserFacingError } from './errors.ts';

export interface HistoryMessage {
  role: 'user' | 'assistant';
  text: string;
  at: Date;
  authorId?: string;
  authorName?: string;
  /** Files the person attached (user turns); the core downloads them again or reads its cache. */
  attachments?: InboundAttachment[];
  /** The same files once resolved (set by the pipeline before the conversation is built). */
  parts?: MessagePart[];
  /** OpenRouter's `file` annotations kept with an answer (a PDF it parsed), sent back so it is not parsed again. */
  annotations?: unknown[];
}

/** A rough, fast token estimate (about 4 characters a token, rounded up, plus framing). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

/** About what an image costs most vision models (Anthropic's 1,600 at most, OpenAI's 765 to 1,105, Gemini's 258 a tile). */
const IMAGE_TOKENS_ESTIMATE = 1_600;
/** About what a parsed PDF page costs. */
const PDF_PAGE_TOKENS_ESTIMATE = 1_500;

export function estimateMessagesTokens(messages: readonly ChatMessage[]): number {
  let total = 3;
  for (const message of messages) total += estimateContentTokens(message.content);
  return total;
}

function estimateContentTokens(content: string | readonly MessagePart[]): number {
  if (typeof content === 'string') return estimateTokens(content);
  let total = estimateTokens(partsText(content));
  for (const part of content) {
    if (part.type === 'image') total += IMAGE_TOKENS_ESTIMATE;
    else if (part.type === 'file') total += (part.pages ?? 1) * PDF_PAGE_TOKENS_ESTIMATE;
  }
  return total;
}

export interface BuildInput {
  systemPrompt: string;
  history: readonly HistoryMessage[];
  /** The question as parts (text now; images and files later). */
  parts: readonly MessagePart[];
  asker: { id: string; name: string };
  /** Model context length in tokens. */
  contextLength: number;
  /** Output budget reserved inside the context. */
  maxTokens: number;
  /** History at or before this time is ignored (/new). */
  resetAt?: Date;
}

export interface BuiltConversation {
  messages: ChatMessage[];
  /** How many earlier messages were dropped to fit. */
  trimmed: number;
  promptTokens: number;
}

export function buildConversation(input: BuildInput): BuiltConversation {
  const relevant = input.history.filter((m) => (m.text.trim() !== '' || (m.parts?.length ?? 0) > 0) && (!input.resetAt || m.at > input.resetAt));
  const humanAuthors = new Set(relevant.filter((m) => m.role === 'user').map((m) => m.authorId ?? m.authorName));
  humanAuthors.add(input.asker.id);
  const several = humanAuthors.size > 1;

  const label = (m: { authorName?: string; text: string }) =>
    several && m.authorName ? `${m.authorName}: ${m.text}` : m.text;

  const system: ChatMessage = { role: 'system', content: input.systemPrompt };
  // Where several people talk, the asker's name goes before their first text part.
  let labelled = false;
  const parts = input.parts.map((part): MessagePart => {
    if (part.type !== 'text' || labelled) return part;
    labelled = true;
    return { type: 'text', text: label({ authorName: input.asker.name, text: part.text }) };
  });
  const current: ChatMessage = { role: 'user', content: parts };
  const budget = input.contextLength - input.maxTokens;
  const fixed = estimateMessagesTokens([system, current]);
  if (fixed > budget) {
    throw new UserFacingError(
      'bad-input',
      `Your message is too long for this model: about ${fixed.toLocaleString('en-US')} tokens, and the model takes ${budget.toLocaleString('en-US')} besides its answer. Shorten it or pick a model with a longer context.`,
    );
  }

  const kept: ChatMessage[] = [];
  let used = fixed;
  let index = relevant.length - 1;
  for (; index >= 0; index--) {
    const m = relevant[index]!;
    const message: ChatMessage =
      m.role === 'assistant'
        ? { role: 'assistant', content: m.text, ...(m.annotations && m.annotations.length > 0 ? { annotations: m.annotations } : {}) }
        : { role: 'user', content: userContent(label(m), m.parts) };
    const cost = estimateContentTokens(message.content);
    if (used + cost > budget) break;
    used += cost;
    kept.unshift(message);
  }
  // Never start the history with an orphaned assistant turn.
  let trimmed = index + 1;
  while (kept.length > 0 && kept[0]!.role === 'assistant' && trimmed > 0) {
    kept.shift();
    trimmed++;
  }
  return { messages: [system, ...kept, current], trimmed, promptTokens: used };
}

/** An earlier question: its text, and the files it carried as parts after it. */
function userContent(text: string, parts: readonly MessagePart[] | undefined): string | MessagePart[] {
  if (!parts || parts.length === 0) return text;
  return [...(text.trim() === '' ? [] : [{ type: 'text' as const, text }]), ...parts];
}

/** Makes user text safe to send: well-formed UTF-16, no control characters but tab and newline. */
export function cleanPrompt(text: string): string {
  return text
    .toWellFormed()
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '')
    .trim();
}
