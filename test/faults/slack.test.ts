/**
 * Fault tests on Slack: the real Bolt adapter (HTTP mode) against the fake
 * Slack (fast clock), the real core against the fake OpenRouter. Upstream
 * faults go through a mention (answered with Slack's streaming methods);
 * chat.update faults through /ask (post and update).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeMessage } from '../fakes/slack.ts';
import { ALICE, CHANNEL, startHarness, type Harness } from '../platforms/slack/harness.ts';
import { FAULT_ENV, faultTools, IN_PROGRESS, UPSTREAM_FAULTS } from './cases.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: FAULT_ENV });
  for (const tool of faultTools) h.app.core.registry.register(tool);
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.violations.length = 0;
  h.fake.streams.expireAfterAppends = undefined;
  h.app.openrouter.reset();
});
afterEach(async () => {
  await h.adapter.idle();
});

/** Mentions the bot; returns the thread's bot messages once the answer ended. */
async function mention(text: string): Promise<FakeMessage[]> {
  const delivery = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: `<@${h.fake.botUserId}> ${text}` });
  expect(delivery.status).toBe(200);
  await h.adapter.idle();
  return h.fake.botMessages(CHANNEL, delivery.ts);
}

/** Runs /ask; returns the bot's new top-level messages once the answer ended. */
async function slashAsk(text: string): Promise<FakeMessage[]> {
  const before = new Set(h.fake.botMessages(CHANNEL).map((m) => m.ts));
  const delivery = await h.fake.slashCommand({ command: '/ask', text, user: ALICE, channel: CHANNEL });
  expect(delivery.status).toBe(200);
  await h.adapter.idle();
  return h.fake.botMessages(CHANNEL).filter((m) => !before.has(m.ts));
}

const visible = (messages: FakeMessage[]) => messages.map((m) => h.fake.visibleText(m)).join('\n');

async function expectCleanEnd(messages: FakeMessage[], ledgerBefore: number, outcome: string, errorKind: string | null): Promise<void> {
  for (const message of messages) {
    expect(message.streaming).toBe(false);
    // No Stop button or Stop message left; the 👍/👎 of a finished answer may stay.
    expect(message.blocks?.some((b) => b.block_id === 'switchboard_control' || (b.type === 'actions' && b.block_id !== 'switchboard_feedback')) ?? false).toBe(false);
    expect(h.fake.visibleText(message)).not.toMatch(IN_PROGRESS);
  }
  const rows = await h.app.core.store.ledger({});
  expect(rows).toHaveLength(ledgerBefore + 1);
  expect(rows.at(-1)).toMatchObject({ platform: 'slack', outcome, errorKind, userId: ALICE });
  const usage = await h.app.core.store.usage('slack', h.fake.teamId, ALICE, new Date(h.clock.now()));
  expect(usage.reserved.requests).toBe(0);
  expect(h.app.core.pipeline.running()).toBe(0);
  expect(h.fake.violations).toEqual([]);

  h.app.openrouter.reset();
  const next = await mention('still alive?');
  expect(visible(next)).toMatch(/^You said: still alive\?\n.*gpt-4o-mini/);
}

const ledgerSize = async () => (await h.app.core.store.ledger({})).length;

describe('faults on Slack (real Bolt against the fake Slack)', () => {
  for (const fault of UPSTREAM_FAULTS.filter((f) => !f.coreOnly)) {
    it(fault.name, async () => {
      const before = await ledgerSize();
      fault.arrange(h.app.openrouter);
      const messages = await mention(`fault: ${fault.name}`);
      expect(visible(messages)).toMatch(fault.shows);
      fault.check?.(h.app.openrouter);
      await expectCleanEnd(messages, before, fault.outcome, fault.errorKind);
    });
  }

  it('a 429 on chat.appendStream is waited out and the whole answer still arrives', async () => {
    const before = await ledgerSize();
    h.app.openrouter.enqueue({ text: ['One ', 'two ', 'three ', 'four'], chunkDelayMs: 40 });
    h.fake.rateLimitNext('chat.appendStream', 1);
    const messages = await mention('rate limit me');
    expect(h.fake.calls.some((c) => c.method === 'chat.appendStream' && c.result.status === 429)).toBe(true);
    expect(messages.map((m) => m.text).join('')).toBe('One two three four');
    await expectCleanEnd(messages, before, 'ok', null);
  });

  it('a 429 on chat.update (/ask) is waited out and the whole answer still arrives', async () => {
    const before = await ledgerSize();
    h.app.openrouter.enqueue({ text: ['One ', 'two ', 'three ', 'four'], chunkDelayMs: 40 });
    h.fake.rateLimitNext('chat.update', 1);
    const messages = await slashAsk('rate limit me');
    expect(h.fake.calls.some((c) => c.method === 'chat.update' && c.result.status === 429)).toBe(true);
    expect(visible(messages)).toMatch(/One two three four\n+.*gpt-4o-mini/);
    await expectCleanEnd(messages, before, 'ok', null);
  });

  it("Slack's msg_too_long on chat.update: the update is retried and the answer completes", async () => {
    const before = await ledgerSize();
    h.app.openrouter.enqueue({ text: ['Long ', 'enough ', 'answer'], chunkDelayMs: 40 });
    h.fake.failNext('chat.update', 'msg_too_long', 1);
    const messages = await slashAsk('too long');
    expect(h.fake.calls.some((c) => c.method === 'chat.update' && c.result.error === 'msg_too_long')).toBe(true);
    expect(visible(messages)).toMatch(/Long enough answer\n+.*gpt-4o-mini/);
    await expectCleanEnd(messages, before, 'ok', null);
  });

  it("Slack's msg_too_long on every chat.update: the answer is posted as a new message and the stuck one removed", async () => {
    const before = await ledgerSize();
    h.app.openrouter.enqueue({ text: ['Long ', 'enough ', 'answer'], chunkDelayMs: 40 });
    h.fake.failNext('chat.update', 'msg_too_long', 1000);
    const messages = await slashAsk('always too long');
    h.fake.failNext('chat.update', 'msg_too_long', 0);
    expect(h.fake.calls.filter((c) => c.method === 'chat.update' && c.result.error === 'msg_too_long').length).toBeGreaterThanOrEqual(5);
    expect(h.fake.calls.some((c) => c.method === 'chat.delete' && c.result.ok)).toBe(true);
    expect(messages.filter((m) => !m.deleted)).toHaveLength(1);
    expect(visible(messages)).toMatch(/Long enough answer\n+.*gpt-4o-mini/);
    await expectCleanEnd(messages, before, 'ok', null);
  });

  it('a Slack stream that expires mid-answer: the rest arrives by chat.update on the same message', async () => {
    const before = await ledgerSize();
    h.fake.streams.expireAfterAppends = 1;
    h.app.openrouter.enqueue({ text: ['First part, ', 'second part, ', 'third part, ', 'the end.'], chunkDelayMs: 40 });
    const messages = await mention('expire the stream');
    expect(h.fake.calls.some((c) => c.result.error === 'message_not_in_streaming_state')).toBe(true);
    expect(messages).toHaveLength(1);
    // The streamed message was taken over by chat.update: its blocks now show the whole answer and the footer.
    expect(messages[0]!.updates).toBeGreaterThan(0);
    const blocks = (messages[0]!.blocks ?? []).flatMap((b) => [b.text?.text ?? '', ...(b.elements ?? []).map((e) => (typeof e.text === 'string' ? e.text : ''))]).join('\n');
    expect(blocks).toMatch(/^First part, second part, third part, the end\.\n+.*gpt-4o-mini/);
    await expectCleanEnd(messages, before, 'ok', null);
  });

  it('the answer message deleted while streaming stops the request upstream and settles it as cancelled', async () => {
    const before = await ledgerSize();
    h.app.openrouter.enqueue({ text: ['a ', 'b ', 'c ', 'd ', 'e ', 'f '], chunkDelayMs: 40, hang: 'after-text' });
    const off = h.fake.onCall((call, response) => {
      if (call.method !== 'chat.startStream' || !call.result.ok) return;
      off();
      const streamed = h.fake.messages(CHANNEL, String(call.args.thread_ts)).find((m) => m.ts === response.ts);
      streamed!.deleted = true;
    });
    const messages = await mention('delete me');
    const upstream = h.app.openrouter.chatRequests().at(-1)!;
    await upstream.finished;
    expect(upstream.aborted).toBe(true);
    expect(messages).toEqual([]);
    await expectCleanEnd(messages, before, 'cancelled', 'aborted');
  });
});
