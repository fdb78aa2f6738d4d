import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startConsoleChat } from '../../src/platforms/console/console-chat.ts';
import { createMetrics } from '../../src/ops/metrics.ts';
import { modelEntry } from '../fakes/openrouter.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };
const THINKER = 'deepthink/r1';

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('reasoning models through the pipeline', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  async function start() {
    app = await startTestApp();
    app.openrouter.models.push(modelEntry(THINKER, { supported_parameters: ['max_tokens', 'reasoning', 'include_reasoning'] }));
    return createHarness(app.core);
  }

  it('sends reasoning.effort only to models that list reasoning, and /model show says when it does not apply', async () => {
    const h = await start();
    await h.run(admin, 'model', 'option', { option: 'reasoning-effort', value: 'high' });
    expect(h.lastReply()).toContain('`reasoning-effort` for this channel is now high');
    await h.run(ada, 'ask', undefined, { prompt: 'plain model' });
    await h.run(admin, 'model', 'show');
    expect(h.lastReply()).toMatch(/\*\*Reasoning effort:\*\* high _\(channel\)_ — does not apply to `openai\/gpt-4o-mini` \(it does not take reasoning settings\)/);
    expect(h.lastReply()).toContain('**Reasoning display:** status _(default)_');

    await h.run(admin, 'model', 'set', { model: THINKER, scope: 'server' });
    await h.run(ada, 'ask', undefined, { prompt: 'thinking model' });
    await h.run(admin, 'model', 'show');
    expect(h.lastReply()).toContain('**Reasoning effort:** high _(channel)_');
    expect(h.lastReply()).not.toContain('does not apply');

    const [plain, thinking] = app.openrouter.chatRequests();
    expect(plain!.body!).not.toHaveProperty('reasoning');
    expect(thinking!.body!.reasoning).toEqual({ effort: 'high' });

    await h.run(admin, 'model', 'option', { option: 'reasoning-effort', value: 'default' });
    await h.run(admin, 'model', 'option', { option: 'reasoning-effort', value: 'huge' }).catch(() => undefined);
    expect(h.lastReply()).toContain('`reasoning-effort` takes none, minimal, low, medium, high, xhigh or default');
    await h.run(ada, 'ask', undefined, { prompt: 'back to default' });
    expect(app.openrouter.chatRequests()[2]!.body!).not.toHaveProperty('reasoning');
  });

  it('counts reasoning tokens in the ledger row, the footer and the token metric', async () => {
    const h = await start();
    const metrics = createMetrics(app.core.events, { catalog: app.core.catalog });
    await h.run(admin, 'model', 'set', { model: THINKER, scope: 'server' });
    app.openrouter.enqueue({ reasoning: ['Hmm.'], text: ['4'], usage: { prompt_tokens: 10, completion_tokens: 950, reasoning_tokens: 900, cost: 0.001 } });
    await h.run(ada, 'ask', undefined, { prompt: '2+2?' });
    const [row] = await app.core.store.ledger({});
    expect(row).toMatchObject({ tokensOut: 950, tokensReasoning: 900 });
    expect(h.surfaces[0]!.texts().join('\n')).toContain('10 in / 950 out, 900 reasoning');
    await metrics.settled();
    expect(sample(await metrics.render(), 'switchboard_tokens_total', { direction: 'reasoning', model: THINKER })).toBe(900);
    metrics.close();
  });

  it('status: the thinking line shows while the model reasons and is gone from the finished answer', async () => {
    const h = await start();
    await h.run(admin, 'model', 'set', { model: THINKER, scope: 'server' });
    app.openrouter.enqueue({ reasoning: ['Working out ', 'the sum'], reasoningDelayMs: 30, text: ['4'] });
    await h.run(ada, 'ask', undefined, { prompt: '2+2?' });
    const surface = h.surfaces[0]!;
    expect(surface.calls.some((c) => /💭 thinking… \ds/.test(c.text))).toBe(true);
    const final = surface.texts().join('\n');
    expect(final).not.toContain('thinking…');
    expect(final).not.toContain('Working out');
  });

  it('spoiler: the reasoning stays under the answer as a ||spoiler||; hidden never shows it', async () => {
    const h = await start();
    await h.run(admin, 'model', 'set', { model: THINKER, scope: 'server' });
    await h.run(admin, 'model', 'option', { option: 'reasoning-display', value: 'spoiler' });
    app.openrouter.enqueue({ reasoning: ['Two and ', 'two make four.'], encryptedReasoning: 'xyz', text: ['4'] });
    await h.run(ada, 'ask', undefined, { prompt: '2+2?' });
    expect(h.surfaces[0]!.texts().join('\n')).toMatch(/^4\n\n\|\|💭 Two and two make four\.\|\|\n\n.*deepthink\/r1 · /s);

    await h.run(admin, 'model', 'option', { option: 'reasoning-display', value: 'hidden' });
    app.openrouter.enqueue({ reasoning: ['A secret ', 'plan'], reasoningDelayMs: 20, text: ['5'] });
    await h.run(ada, 'ask', undefined, { prompt: '2+3?' });
    const calls = h.surfaces[1]!.calls.map((c) => c.text).join('\n');
    expect(calls).toMatch(/💭 thinking… \ds/);
    expect(calls).not.toContain('secret');
  });

  it('keeps no reasoning after the answer: the records hold the answer text only, and follow-ups send no reasoning', async () => {
    const h = await start();
    await h.run(admin, 'model', 'set', { model: THINKER, scope: 'server' });
    await h.run(admin, 'model', 'option', { option: 'reasoning-display', value: 'spoiler' });
    app.openrouter.enqueue({ reasoning: ['Private ', 'musings.'], text: ['4'] });
    await h.run(ada, 'ask', undefined, { prompt: '2+2?' });
    expect(h.surfaces[0]!.texts().join('\n')).toContain('Private musings.');
    const ids = h.surfaces[0]!.messages().map((m) => m.id);
    const records = await app.core.store.answerRecords('test', 'c1', ids);
    expect([...records.values()].map((r) => r.text)).toEqual(['4']);

    // The terminal's conversation: the second request carries the first answer without its reasoning.
    app.openrouter.enqueue({ reasoning: ['Private ', 'musings.'], text: ['4'] });
    app.openrouter.enqueue({ text: ['8'] });
    const input = new PassThrough();
    const output = new PassThrough();
    const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' } });
    input.write('2+2?\n');
    input.write('and doubled?\n');
    input.end();
    await session.done;
    const followUp = app.openrouter.chatRequests().at(-1)!.body!;
    const sent = JSON.stringify(followUp.messages);
    expect(sent).toContain('"4"');
    expect(sent).not.toContain('musings');
  });
});
