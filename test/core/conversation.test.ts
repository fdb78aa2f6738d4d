import { describe, expect, it } from 'vitest';
import { buildConversation, cleanPrompt, estimateTokens, type HistoryMessage } from '../../src/core/conversation.ts';
import { UserFacingError } from '../../src/core/errors.ts';

const at = (n: number) => new Date(Date.UTC(2026, 10, 24, 10, 0, n));
const asker = { id: 'u1', name: 'Ada' };

function turns(count: number, size = 40): HistoryMessage[] {
  const out: HistoryMessage[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ role: 'user', text: `question ${i} ${'q'.repeat(size)}`, at: at(i * 2), authorId: 'u1', authorName: 'Ada' });
    out.push({ role: 'assistant', text: `answer ${i} ${'a'.repeat(size)}`, at: at(i * 2 + 1) });
  }
  return out;
}

describe('buildConversation', () => {
  it('puts the system prompt first, then history, then the new message', () => {
    const built = buildConversation({
      systemPrompt: 'Be brief.',
      history: turns(2),
      parts: [{ type: 'text', text: 'and now?' }],
      asker,
      contextLength: 100_000,
      maxTokens: 1000,
    });
    expect(built.trimmed).toBe(0);
    expect(built.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'user']);
    expect(built.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    expect(built.messages.at(-1)).toEqual({ role: 'user', content: [{ type: 'text', text: 'and now?' }] });
    expect(built.promptTokens).toBeGreaterThan(0);
  });

  it('trims the oldest turns to fit the context minus the output budget, and says how many', () => {
    const history = turns(50, 400);
    const built = buildConversation({ systemPrompt: 'S', history, parts: [{ type: 'text', text: 'latest' }], asker, contextLength: 4000, maxTokens: 1000 });
    expect(built.trimmed).toBeGreaterThan(0);
    expect(built.promptTokens).toBeLessThanOrEqual(3000);
    const kept = built.messages.length - 2;
    expect(kept + built.trimmed).toBe(history.length);
    // The newest history survives and the kept history never starts with an assistant turn.
    expect(built.messages.at(-2)?.content).toContain('answer 49');
    expect(built.messages[1]?.role).toBe('user');
  });

  it('ignores history before a /new reset', () => {
    const built = buildConversation({
      systemPrompt: 'S',
      history: turns(3),
      parts: [{ type: 'text', text: 'fresh' }],
      asker,
      contextLength: 100_000,
      maxTokens: 100,
      resetAt: at(3),
    });
    const sent = JSON.stringify(built.messages.map((m) => m.content));
    expect(sent).not.toContain('question 0');
    expect(sent).toContain('question 2');
  });

  it("labels other people's messages by name when several people talk", () => {
    const history: HistoryMessage[] = [
      { role: 'user', text: 'I think 42', at: at(1), authorId: 'u2', authorName: 'Bob' },
      { role: 'assistant', text: 'Noted', at: at(2) },
    ];
    const built = buildConversation({ systemPrompt: 'S', history, parts: [{ type: 'text', text: 'what did Bob say?' }], asker, contextLength: 10_000, maxTokens: 100 });
    expect(built.messages[1]).toEqual({ role: 'user', content: 'Bob: I think 42' });
    expect(built.messages.at(-1)).toEqual({ role: 'user', content: [{ type: 'text', text: 'Ada: what did Bob say?' }] });
  });

  it('refuses a message that cannot fit at all', () => {
    expect(() =>
      buildConversation({ systemPrompt: 'S', history: [], parts: [{ type: 'text', text: 'x'.repeat(10_000) }], asker, contextLength: 2000, maxTokens: 1000 }),
    ).toThrow(UserFacingError);
  });

  it('estimates tokens roughly', () => {
    expect(estimateTokens('x'.repeat(400))).toBe(104);
  });
});

describe('cleanPrompt', () => {
  it('removes control characters, repairs lone surrogates and trims', () => {
    expect(cleanPrompt('  hi\u0000 there\u0007\r\nnext\t ')).toBe('hi there\nnext');
    expect(cleanPrompt('bad \ud800 pair')).toBe('bad \ufffd pair');
    expect(cleanPrompt('emoji 😀 ok')).toBe('emoji 😀 ok');
  });
});
