/**
 * Upper bounds on prompt tokens, for reservations that must never be too
 * small. A tokenizer's token covers at least one byte of UTF-8 (byte-level
 * BPE falls back to single bytes), so the byte length bounds the tokens of a
 * text, whatever the model; chat templates add a few special tokens per
 * message, and providers wrap tool definitions in instructions of their own.
 * The usual estimate (about 4 characters a token) can be exceeded by code,
 * CJK text or emoji; this cannot.
 */
import type { ChatMessage, ToolSpec } from './types.ts';

/** Special tokens a chat template adds around one message (role, separators), generously. */
const PER_MESSAGE = 8;
/** Template tokens around the whole prompt and the answer's start. */
const PER_PROMPT = 16;
/** What a provider adds when tools are offered (its own tool-use instructions). */
const PER_TOOL_SET = 512;

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

export function promptTokensCeiling(messages: readonly ChatMessage[]): number {
  let total = PER_PROMPT;
  for (const message of messages) {
    total += PER_MESSAGE;
    switch (message.role) {
      case 'user':
        total += typeof message.content === 'string' ? bytes(message.content) : message.content.reduce((n, part) => n + bytes(part.text) + PER_MESSAGE, 0);
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
