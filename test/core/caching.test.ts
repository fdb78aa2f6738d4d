/**
 * Cost and speed of long conversations, on a real core with the real openai
 * SDK against the fake OpenRouter: session_id per conversation, cache_control
 * for explicitly-caching families past the threshold, cached prompt tokens in
 * the ledger and the footer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryMessage } from '../../src/core/conversation.ts';
import { sessionIdOf } from '../../src/core/conversation-key.ts';
import { CACHE_CONTROL_MIN_PROMPT_TOKENS } from '../../src/llm/to-openai-request.ts';
import { modelEntry } from '../fakes/openrouter.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };

/** A thread whose prompt bound is about `tokens` tokens (4 characters a token). */
function longHistory(tokens: number): HistoryMessage[] {
  const turns = 10;
  return Array.from({ length: turns }, (_, i) => ({
    role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
    text: `turn ${i} ${'lorem ipsum dolor '.repeat(Math.ceil((tokens * 4) / turns / 18))}`,
    at: new Date(Date.now() - 100_000 + i),
    authorId: 'u1',
    authorName: 'Ada',
  }));
}

describe('prompt caching', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it('sends one session_id for every follow-up of a conversation and another for another conversation', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    const thread = { conversationKey: 'test:w1:c1:1700000000.0001' };
    await h.run(ada, 'ask', undefined, { prompt: 'first' }, thread);
    await h.run(ada, 'ask', undefined, { prompt: 'follow-up' }, thread);
    await h.run(ada, 'ask', undefined, { prompt: 'elsewhere' }, { conversationKey: 'test:w1:c1:1700000000.0002' });
    const sessions = app.openrouter.chatRequests().map((r) => r.body!.session_id as string);
    expect(sessions[0]).toBe(sessionIdOf(thread.conversationKey));
    expect(sessions[1]).toBe(sessions[0]);
    expect(sessions[2]).not.toBe(sessions[0]);
    for (const s of sessions) {
      expect(s.length).toBeLessThanOrEqual(256);
      // A hash: the platform's ids never leave the process.
      expect(s).not.toContain('1700000000');
    }
  });

  it('asks for cache_control only for anthropic/ and google/gemini models past the threshold', async () => {
    app = await startTestApp();
    app.openrouter.models.push(modelEntry('google/gemini-2.5-flash', { context_length: 1_000_000 }));
    await app.core.catalog.refresh();
    const ask = async (model: string, history: HistoryMessage[]) => {
      const h = createHarness(app.core, { history });
      await h.run(admin, 'model', 'set', { model });
      await h.run(ada, 'ask', undefined, { prompt: 'go on' });
      return app.openrouter.chatRequests().at(-1)!.body!;
    };
    // The bound counts a token per byte (token-bound.ts): a history of N/4 tokens bounds at about N.
    const long = longHistory((CACHE_CONTROL_MIN_PROMPT_TOKENS + 400) / 4);
    const short = longHistory((CACHE_CONTROL_MIN_PROMPT_TOKENS - 1200) / 4);
    expect((await ask('anthropic/claude-3.5-sonnet', long)).cache_control).toEqual({ type: 'ephemeral' });
    expect((await ask('google/gemini-2.5-flash', long)).cache_control).toEqual({ type: 'ephemeral' });
    expect((await ask('anthropic/claude-3.5-sonnet', short)).cache_control).toBeUndefined();
    expect((await ask('openai/gpt-4o-mini', long)).cache_control).toBeUndefined();
  });

  it('records cached prompt tokens in the ledger and shows them in the footer, priced lower', async () => {
    app = await startTestApp();
    app.openrouter.cacheSessions = true;
    const h = createHarness(app.core, { history: longHistory(12_000) });
    await h.run(ada, 'ask', undefined, { prompt: 'summarise' });
    await h.run(ada, 'ask', undefined, { prompt: 'and again' });
    const rows = await app.core.store.ledger({ userId: ada.id });
    expect(rows[0]!.tokensCached).toBe(0);
    expect(rows[1]!.tokensCached).toBeGreaterThan(10_000);
    expect(rows[1]!.tokensCached).toBeLessThanOrEqual(rows[1]!.tokensIn);
    expect(rows[1]!.costUsd).toBeLessThan(rows[0]!.costUsd / 2);
    const footer = h.surfaces[1]!.texts().join('\n');
    expect(footer).toMatch(/gpt-4o-mini · \d+\.\dk in \(\d+\.\dk cached\) \/ \d+ out/);
    expect(h.surfaces[0]!.texts().join('\n')).not.toContain('cached');
  });
});
