/**
 * Upper bounds on prompt tokens, for reservations that must never be too
 * small. A tokenizer's token covers at least one byte of UTF-8 (byte-level
 * BPE falls back to single bytes), so the byte length bounds the tokens of a
 * text, whatever the model; chat templates add a few special tokens per
 * message, and providers wrap tool definitions in instructions of their own.
 * The usual estimate (about 4 characters a token) can be exceeded by code,
 * CJK text or emoji; this cannot.
 */
import type { ChatMessage, MessagePart, ToolSpec } from './types.ts';

/**
 * Prompt tokens one image may cost, whatever the model: providers scale an
 * image down before tokenizing it (Anthropic about 1,600 tokens at most,
 * OpenAI about 1,100 in high detail, Qwen-VL about 5,400 for the 2,048-pixel
 * side attachments are kept under).
 */
export const IMAGE_TOKENS_BOUND = 6_000;
/** Prompt tokens one PDF page may cost (the page as text, or as an image for native engines). */
export const PDF_PAGE_TOKENS_BOUND = 3_000;

/** The most one part of a message can add to the prompt. */
export function partTokensBound(part: MessagePart): number {
  switch (part.type) {
    case 'text':
      return bytes(part.text);
    case 'image':
      return IMAGE_TOKENS_BOUND;
    case 'file':
      return (part.pages ?? 1) * PDF_PAGE_TOKENS_BOUND + bytes(part.name);
  }
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Special tokens a chat template adds around one message (role, separators), generously. */
const PER_MESSAGE = 8;
/** Template tokens around the whole prompt and the answer's start. */
const PER_PROMPT = 16;
/** What a provider adds when tools are offered (its own tool-use instructions). */
const PER_TOOL_SET = 512;


export function promptTokensCeiling(messages: readonly ChatMessage[]): number {
  let total = PER_PROMPT;
  for (const message of messages) {
    total += PER_MESSAGE;
    switch (message.role) {
      case 'user':
        total += typeof message.content === 'string' ? bytes(message.content) : message.content.reduce((n, part) => n + partTokensBound(part) + PER_MESSAGE, 0);
        if (message.name) total += bytes(message.name);
        break;
      case 'assistant':
        total += bytes(message.content);
        for (const call of message.toolCalls ?? []) total += bytes(call.id) + bytes(call.name) + bytes(call.arguments) + PER_MESSAGE;
        break;
      case 'tool':
        total += bytes(message.toolCallId) + bytes(message.content);
        break;
      case 'system':
        total += bytes(message.content);
        break;
    }
  }
  return total;
}

/** Per spec: the registry hands out the same spec objects, and this runs before every answer. */
const specTokens = new WeakMap<ToolSpec, number>();

/** The tool definitions as sent (JSON), plus the provider's tool-use instructions; 0 for none. */
export function toolTokensCeiling(specs: readonly ToolSpec[]): number {
  if (specs.length === 0) return 0;
  let total = PER_TOOL_SET;
  for (const spec of specs) {
    let tokens = specTokens.get(spec);
    if (tokens === undefined) {
      tokens = bytes(JSON.stringify(spec)) + PER_MESSAGE;
      specTokens.set(spec, tokens);
    }
    total += tokens;
  }
  return total;
}
