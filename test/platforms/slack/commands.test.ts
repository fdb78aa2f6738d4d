import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, CHANNEL, LISTED_ADMIN, startHarness, waitFor, WORKSPACE_ADMIN, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const actionIds = (message: { blocks?: Array<{ type: string; elements?: Array<Record<string, unknown>> }> }) =>
  (message.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => (b.elements ?? []).map((e) => e.action_id));

describe('Slack slash commands (HTTP mode, real Bolt)', () => {
  it('/ask acks at once, then posts the answer in the channel and streams it with chat.update', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['**Paris** is ', 'the capital ', 'of France.'], chunkDelayMs: 30 });
    const started = Date.now();
    const response = await h.fake.slashCommand({ command: '/ask', text: 'What is the capital of France?', user: ALICE, channel: CHANNEL });
    expect(response.status).toBe(200);
    expect(response.body).toBe('');
    expect(Date.now() - started).toBeLessThan(1000);

    // While it streams: one message with the Stop button.
    const streaming = await waitFor(() => h!.fake.botMessages(CHANNEL)[0], 3000, 'the placeholder');
    expect(actionIds(streaming)).toEqual(['switchboard_stop']);

    await h.adapter.idle();
    const [answer, ...more] = h.fake.botMessages(CHANNEL);
    expect(more).toHaveLength(0);
    const text = h.fake.visibleText(answer!);
    expect(text).toContain('Alice asked: What is the capital of France?');
    expect(text).toContain('*Paris* is the capital of France.');
    expect(text).toMatch(/openai\/gpt-4o-mini · \d+ in \/ \d+ out/);
    // The Stop button is gone; a finished answer can be rated.
    expect(actionIds(answer!)).toEqual(['switchboard_feedback_up', 'switchboard_feedback_down']);
    expect(answer!.updates).toBeGreaterThanOrEqual(1);
    expect(h.fake.callsOf('chat.startStream')).toHaveLength(0);

    const [request] = h.app.openrouter.chatRequests();
    expect(request!.body!.messages.at(-1)).toMatchObject({ role: 'user', content: 'What is the capital of France?' });
    const post = h.fake.callsOf('chat.postMessage')[0]!;
    expect(post.args).toMatchObject({ parse: 'none', link_names: 'false' });
    expect(h.fake.violations).toEqual([]);
  });

  it('answers a bad command line with an ephemeral usage message', async () => {
    h = await startHarness();
    await h.fake.slashCommand({ command: '/model', text: 'frobnicate', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals).toHaveLength(1);
    expect(h.fake.ephemerals[0]!.text).toMatch(/has no `frobnicate`/);
    expect(h.fake.ephemerals[0]!.body.response_type).toBe('ephemeral');
    expect(h.fake.botMessages(CHANNEL)).toHaveLength(0);
  });

  it('refuses admin commands to others (ephemeral) and accepts workspace admins and ADMIN_USER_IDS', async () => {
    h = await startHarness();
    await h.fake.slashCommand({ command: '/model', text: 'set anthropic/claude-3.5-sonnet', user: BOB, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)!.text).toMatch(/Only admins can use/);
    expect(h.fake.ephemerals.at(-1)!.body.response_type).toBe('ephemeral');
    const place = { platform: 'slack', workspaceId: h.fake.teamId, channelId: CHANNEL };
    expect((await h.app.core.settings.resolve(place)).model.value).toBe('openai/gpt-4o-mini');

    // A workspace admin (users.info is_admin).
    await h.fake.slashCommand({ command: '/model', text: 'set anthropic/claude-3.5-sonnet', user: WORKSPACE_ADMIN, channel: CHANNEL });
    await h.adapter.idle();
    expect((await h.app.core.settings.resolve(place)).model.value).toBe('anthropic/claude-3.5-sonnet');

    // Listed in ADMIN_USER_IDS as slack:<id>.
    await h.fake.slashCommand({ command: '/model', text: 'set openai/gpt-4o-mini', user: LISTED_ADMIN, channel: CHANNEL });
    await h.adapter.idle();
    expect((await h.app.core.settings.resolve(place)).model.value).toBe('openai/gpt-4o-mini');
    expect(h.fake.ephemerals.filter((e) => /Only admins/.test(e.text))).toHaveLength(1);
    expect(h.fake.violations).toEqual([]);
  });

  it('rejects a bad signature and a stale timestamp without answering', async () => {
    h = await startHarness();
    const bad = await h.fake.slashCommand({ command: '/ask', text: 'hello', user: ALICE, channel: CHANNEL, signature: 'bad' });
    const stale = await h.fake.slashCommand({ command: '/ask', text: 'hello', user: ALICE, channel: CHANNEL, signature: 'stale' });
    const missing = await h.fake.slashCommand({ command: '/ask', text: 'hello', user: ALICE, channel: CHANNEL, signature: 'missing' });
    const event = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> hello', signature: 'bad' });
    expect([bad.status, stale.status, missing.status, event.status]).toEqual([401, 401, 401, 401]);
    await h.adapter.idle();
    expect(h.fake.botMessages(CHANNEL)).toHaveLength(0);
    expect(h.fake.ephemerals).toHaveLength(0);
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
  });

  it('waits out a rate-limited chat.update (Retry-After) and still delivers the whole answer', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['one ', 'two ', 'three ', 'four'], chunkDelayMs: 40 });
    h.fake.rateLimitNext('chat.update', 1);
    await h.fake.slashCommand({ command: '/ask', text: 'count', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    const limited = h.fake.calls.filter((c) => c.method === 'chat.update' && c.result.status === 429);
    expect(limited).toHaveLength(1);
    const after = h.fake.calls.filter((c) => c.method === 'chat.update' && c.at > limited[0]!.at);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]!.at - limited[0]!.at).toBeGreaterThanOrEqual(1000);
    const [answer] = h.fake.botMessages(CHANNEL);
    expect(h.fake.visibleText(answer!)).toContain('one two three four');
    expect(h.fake.visibleText(answer!)).toMatch(/gpt-4o-mini/);
    expect(h.fake.violations).toEqual([]);
  });

  it('Stop button: the asker or an admin stops the answer, others are refused', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Once upon a time'], hang: 'after-text' });
    await h.fake.slashCommand({ command: '/ask', text: 'tell a long story', user: ALICE, channel: CHANNEL });
    const message = await waitFor(
      () => h!.fake.botMessages(CHANNEL).find((m) => h!.fake.visibleText(m).includes('Once upon a time')),
      3000,
      'the first text',
    );
    const button = message.blocks!.find((b) => b.type === 'actions')!.elements![0]!;
    const requestId = String(button.value);

    await h.fake.clickButton({ user: BOB, channel: CHANNEL, messageTs: message.ts, actionId: 'switchboard_stop', value: requestId });
    await waitFor(() => h!.fake.ephemerals.find((e) => /Only the person who asked/.test(e.text)), 3000, 'the refusal');
    expect(h.app.core.pipeline.ownerOf(requestId)).toBe(ALICE);

    await h.fake.clickButton({ user: WORKSPACE_ADMIN, channel: CHANNEL, messageTs: message.ts, actionId: 'switchboard_stop', value: requestId });
    await h.adapter.idle();
    const final = h.fake.botMessages(CHANNEL)[0]!;
    expect(h.fake.visibleText(final)).toContain('Once upon a time');
    expect(h.fake.visibleText(final)).toContain('Stopped by Wanda Admin');
    expect(actionIds(final)).toEqual([]);
    expect(h.app.core.pipeline.ownerOf(requestId)).toBeUndefined();

    // A click after the end is answered, not acted on.
    await h.fake.clickButton({ user: ALICE, channel: CHANNEL, messageTs: message.ts, actionId: 'switchboard_stop', value: requestId });
    await waitFor(() => h!.fake.ephemerals.find((e) => /already finished/.test(e.text)), 3000, 'the late click answer');
    expect(h.fake.violations).toEqual([]);
  });

  it('/stop stops the user’s own running answer', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Working on it'], hang: 'after-text' });
    await h.fake.slashCommand({ command: '/ask', text: 'something slow', user: ALICE, channel: CHANNEL });
    await waitFor(() => h!.fake.botMessages(CHANNEL).find((m) => h!.fake.visibleText(m).includes('Working on it')), 3000, 'the first text');
    await h.fake.slashCommand({ command: '/stop', text: '', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.map((e) => e.text)).toContain('Stopped 1 answer.');
    expect(h.fake.visibleText(h.fake.botMessages(CHANNEL)[0]!)).toContain('Stopped by Alice');
  });

  it('never lets model output notify @channel, @here, @everyone, groups or users', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Attention <!channel> and <!here|here>, ', '@everyone and @here too, <!subteam^S0DEVS|@devs> ', 'and <@U0BOB>. R&D <3'] });
    await h.fake.slashCommand({ command: '/ask', text: 'shout', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    const text = h.fake.visibleText(h.fake.botMessages(CHANNEL)[0]!);
    expect(text).toContain('&lt;!channel&gt;');
    expect(text).toContain('R&amp;D &lt;3');
    expect(text).not.toMatch(/<!|<@/);
    expect(h.fake.violations).toEqual([]);
  });

  it('answers quota refusals ephemerally, before posting anything', async () => {
    h = await startHarness({ env: { QUOTA_DEFAULT_REQUESTS_PER_DAY: '1' } });
    await h.fake.slashCommand({ command: '/ask', text: 'first', user: BOB, channel: CHANNEL });
    await h.adapter.idle();
    await h.fake.slashCommand({ command: '/ask', text: 'second', user: BOB, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.botMessages(CHANNEL)).toHaveLength(1);
    expect(h.fake.ephemerals).toHaveLength(1);
    expect(h.fake.ephemerals[0]!.body.response_type).toBe('ephemeral');
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
  });

  it('splits a long answer into several messages, each within Slack’s limits', async () => {
    h = await startHarness();
    const paragraph = `${'Fish & chips <cheap> are tasty. '.repeat(12)}\n\n`;
    const chunks = Array.from({ length: 24 }, () => paragraph);
    h.app.openrouter.enqueue({ text: chunks });
    await h.fake.slashCommand({ command: '/ask', text: 'write a lot', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    const messages = h.fake.botMessages(CHANNEL);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    const all = messages.map((m) => m.blocks!.filter((b) => b.type === 'section').map((b) => b.text!.text).join('\n')).join('\n');
    expect(all.match(/Fish &amp; chips &lt;cheap&gt; are tasty\./g)).toHaveLength(24 * 12);
    for (const message of messages) expect(message.text.length).toBeLessThanOrEqual(4000);
    expect(h.fake.visibleText(messages.at(-1)!)).toMatch(/gpt-4o-mini/);
    expect(h.fake.violations).toEqual([]);
  });
});
