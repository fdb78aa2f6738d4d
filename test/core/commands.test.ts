import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const bob = { id: 'u2', name: 'Bob' };
const admin = { id: 'u9', name: 'Grace', admin: true };

describe('commands', () => {
  let app: TestApp;
  let h: Harness;
  beforeEach(async () => {
    app = await startTestApp({ env: { ADMIN_USER_IDS: 'test:boss' } });
    h = createHarness(app.core);
  });
  afterEach(async () => {
    await app.close();
  });

  const lastBody = () => app.openrouter.chatRequests().at(-1)!.body!;

  it('refuses admin commands to non-admins, privately, and changes nothing', async () => {
    await h.run(ada, 'model', 'set', { model: 'anthropic/claude-3.5-sonnet' });
    expect(h.replies.at(-1)).toEqual({ text: expect.stringContaining('Only admins can use `/model set`'), ephemeral: true });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().model).toBe('openai/gpt-4o-mini');
  });

  it('accepts platform admins and ADMIN_USER_IDS, after which /ask uses the new model', async () => {
    await h.run(admin, 'model', 'set', { model: 'anthropic/claude-3.5-sonnet' });
    expect(h.lastReply()).toContain('The model for this channel is now `anthropic/claude-3.5-sonnet`');
    await h.run({ id: 'boss', name: 'Boss' }, 'model', 'set', { model: 'openai/gpt-4o-mini', scope: 'server' });
    expect(h.lastReply()).toContain('for this server');
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().model).toBe('anthropic/claude-3.5-sonnet');
    await h.run(ada, 'ask', undefined, { prompt: 'hi' }, { channelId: 'c2' });
    expect(lastBody().model).toBe('openai/gpt-4o-mini');
    await h.run(ada, 'model', 'show', {}, { channelId: 'c2' });
    expect(h.lastReply()).toContain('**Model:** `openai/gpt-4o-mini` _(server)_');
  });

  it('sets fallbacks and provider sort, which reach OpenRouter, and resets them', async () => {
    await h.run(admin, 'model', 'fallbacks', { models: 'anthropic/claude-3.5-sonnet, meta-llama/llama-3.1-8b-instruct:free' });
    await h.run(admin, 'model', 'provider', { sort: 'price' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().models).toEqual(['openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet', 'meta-llama/llama-3.1-8b-instruct:free']);
    expect(lastBody().provider).toMatchObject({ sort: 'price' });
    await h.run(admin, 'model', 'fallbacks', { models: 'a b c d' });
    expect(h.lastReply()).toContain('at most 2 fallback models');
    await h.run(admin, 'model', 'fallbacks', { models: 'nope/model' });
    expect(h.lastReply()).toContain('There is no model `nope/model`');
    await h.run(admin, 'model', 'reset', {});
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().models).toBeUndefined();
    expect(lastBody().provider).toBeUndefined();
  });

  it('lets users pick a model per request only where the channel allows it', async () => {
    await h.run(ada, 'ask', undefined, { prompt: 'hi', model: 'anthropic/claude-3.5-sonnet' });
    expect(h.lastReply()).toContain('does not let users pick their own model');
    expect(app.openrouter.chatRequests()).toHaveLength(0);
    await h.run(admin, 'model', 'option', { option: 'user-choice', value: 'on' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi', model: 'anthropic/claude-3.5-sonnet' });
    expect(lastBody().model).toBe('anthropic/claude-3.5-sonnet');
    await h.run(ada, 'ask', undefined, { prompt: 'hi', model: 'gpt 4' });
    expect(h.lastReply()).toContain('is not a model id');
    await h.run(admin, 'model', 'option', { option: 'temperature', value: '3' });
    expect(h.lastReply()).toContain('Temperature is a number from 0 to 2');
    await h.run(admin, 'model', 'option', { option: 'max-tokens', value: '64' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().max_tokens).toBe(64);
  });

  it('shows, sets and resets the system prompt', async () => {
    await h.run(admin, 'prompt', 'set', { text: 'You are a pirate.' });
    await h.run(ada, 'prompt', 'show', {});
    expect(h.lastReply()).toContain('You are a pirate.');
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().messages[0]).toEqual({ role: 'system', content: 'You are a pirate.' });
    await h.run(ada, 'prompt', 'set', { text: 'x' });
    expect(h.lastReply()).toContain('Only admins');
    await h.run(admin, 'prompt', 'reset', {});
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().messages[0]?.content).toContain('Switchboard');
  });

  it('lists, enables and disables tools; disabled tools are not sent', async () => {
    await h.run(ada, 'tools', 'list', {});
    expect(h.lastReply()).toMatch(/✅ `calculator`/);
    await h.run(admin, 'tools', 'disable', { tool: 'calculator' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    const names = (lastBody().tools ?? []).map((t) => t.function!.name);
    expect(names).toContain('current_time');
    expect(names).not.toContain('calculator');
    await h.run(admin, 'tools', 'enable', { tool: 'teleport' });
    expect(h.lastReply()).toContain('There is no tool `teleport`');
  });

  it("shows usage; others' usage only to admins; unknown users are named", async () => {
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    await h.run(ada, 'usage', undefined, {});
    expect(h.lastReply()).toContain('Requests today: 1 (no limit)');
    await h.run(bob, 'usage', undefined, { user: '<@u1>' });
    expect(h.lastReply()).toContain("Only admins can see other people's usage");
    await h.run(admin, 'usage', undefined, { user: '<@u1>' });
    expect(h.lastReply()).toContain('**Usage of User u1**');
    await h.run(admin, 'usage', undefined, { user: 'x-nobody' });
    expect(h.lastReply()).toContain('There is no user `x-nobody` here');
  });

  it('sets, shows and resets quotas with clear errors for bad values', async () => {
    await h.run(admin, 'quota', 'set', { target: '<@u1>', limit: 'requests-per-day', value: '1' });
    expect(h.lastReply()).toContain('`requests-per-day` for User u1 is now 1.');
    await h.run(admin, 'quota', 'show', { user: 'u1' });
    expect(h.lastReply()).toContain('`requests-per-day`: 1 _(user)_');
    await h.run(ada, 'ask', undefined, { prompt: 'one' });
    await h.run(ada, 'ask', undefined, { prompt: 'two' });
    expect(h.lastReply()).toContain('You have reached your daily request limit: 1 used of 1');
    await h.run(admin, 'quota', 'reset', { user: 'u1' });
    await h.run(ada, 'ask', undefined, { prompt: 'three' });
    expect(app.openrouter.chatRequests()).toHaveLength(2);

    for (const [value, message] of [
      ['-1', 'cannot be negative'],
      ['abc', 'is not a number'],
      ['1e13', 'too large'],
      ['2.5', 'takes a whole number'],
    ] as const) {
      await h.run(admin, 'quota', 'set', { target: 'default', limit: 'requests-per-day', value });
      expect(h.lastReply()).toContain(message);
    }
    await h.run(admin, 'quota', 'set', { target: 'server', limit: 'tokens-per-day', value: '5' });
    expect(h.lastReply()).toContain('only a `usd-per-month` budget');
    await h.run(admin, 'quota', 'set', { target: 'server', limit: 'usd-per-month', value: '$25' });
    await h.run(admin, 'quota', 'show', {});
    expect(h.lastReply()).toContain('Server budget `usd-per-month`: $25.00 _(server default)_');
    await h.run(admin, 'quota', 'set', { target: 'default', limit: 'tokens-per-day', value: 'none' });
    expect(h.lastReply()).toContain('none (no limit)');
    await h.run(ada, 'quota', 'show', {});
    expect(h.lastReply()).toContain('Only admins');
  });

  it('explains missing, extra and malformed options', async () => {
    await h.run(ada, 'ask', undefined, {});
    expect(h.lastReply()).toBe('`prompt` is required. Usage: `/ask <prompt> [model] [private]`');
    await h.run(ada, 'ask', undefined, { prompt: 'hi', colour: 'blue' });
    expect(h.lastReply()).toContain('unknown option `colour`');
    await h.run(admin, 'model', 'provider', { sort: 'cheapest' });
    expect(h.lastReply()).toMatch(/`sort`: .*price.*throughput.*latency/);
    await h.run(ada, 'ask', undefined, { prompt: '   \u0000  ' });
    expect(h.lastReply()).toContain('Your message is empty');
    await h.run(ada, 'ask', undefined, { prompt: 'x'.repeat(8001) });
    expect(h.lastReply()).toContain('the limit is 8,000');
    expect(h.replies.every((r) => r.ephemeral)).toBe(true);
    expect(app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('/new forgets the conversation for the next question', async () => {
    const history = [
      { role: 'user' as const, text: 'old question', at: new Date(Date.now() - 60_000), authorId: 'u1', authorName: 'Ada' },
      { role: 'assistant' as const, text: 'old answer', at: new Date(Date.now() - 59_000) },
    ];
    h = createHarness(app.core, { history });
    await h.run(ada, 'ask', undefined, { prompt: 'q1' });
    expect(lastBody().messages.map((m) => m.content)).toContain('old question');
    await h.run(ada, 'new', undefined, {});
    expect(h.lastReply()).toContain('Starting afresh');
    await h.run(ada, 'ask', undefined, { prompt: 'q2' });
    expect(lastBody().messages.map((m) => m.content)).not.toContain('old question');
  });
});
