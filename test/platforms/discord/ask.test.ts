/**
 * /ask end to end: streaming into the interaction reply, splitting past 2000
 * characters, rate limits, expired tokens, deleted messages and upstream
 * errors, against the fake Discord and the fake OpenRouter.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buttonIds, type FakeInteraction, type FakeMessage } from '../../fakes/discord.ts';
import { afterFirstTextEdit, answerText, hasFooter, longText, startHarness, type Harness } from './harness.ts';

let h: Harness;
let general: string;

beforeAll(async () => {
  h = await startHarness();
  general = h.fake.channels.general.id;
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.violations.length = 0;
  h.app.openrouter.reset();
});
afterEach(async () => {
  await h.adapter.idle();
});

async function ask(prompt: string, user = h.fake.users.alice, channelId = general): Promise<FakeInteraction> {
  const interaction = await h.fake.runCommand({ user, channelId, name: 'ask', options: { prompt } });
  await h.adapter.idle();
  return interaction;
}

/** The text of an answer spread over messages, footer and cursor removed. */
function joined(messages: FakeMessage[]): string {
  return messages.map((m) => answerText(m.content)).join(' ').replace(/\s+/g, ' ').trim();
}

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();


describe('/ask', () => {
  it('streams an answer over 2000 characters into several messages, each within the limit, footer on the last', async () => {
    const { full, parts } = longText(4600, 40);
    h.app.openrouter.enqueue({ text: parts, chunkDelayMs: 2 });
    const interaction = await ask('write a lot');

    expect(interaction.ackType).toBe(5);
    expect(interaction.ephemeral).toBe(false);
    const messages = h.fake.interactionMessages(interaction);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const message of messages) {
      expect(message.content.length).toBeLessThanOrEqual(2000);
      for (const version of message.history) expect(version.length).toBeLessThanOrEqual(2000);
    }
    expect(joined(messages)).toBe(squash(full));
    expect(messages.map((m) => hasFooter(m.content))).toEqual([...messages.slice(1).map(() => false), true]);
    expect(messages.at(-1)!.content).toMatch(/openai\/gpt-4o-mini · [\d,]+ in \/ [\d,]+ out/);
    // Stop is gone everywhere; Retry sits on the last message only.
    expect(messages.flatMap(buttonIds).filter((id) => id.startsWith('sb:stop'))).toEqual([]);
    expect(messages.slice(0, -1).flatMap(buttonIds)).toEqual([]);
    expect(buttonIds(messages.at(-1)!)).toEqual([expect.stringMatching(/^sb:retry:/)]);
    expect(h.fake.violations).toEqual([]);
  });

  it('keeps every message free of pings: allowed_mentions {parse: []} everywhere, @everyone stays text', async () => {
    h.app.openrouter.enqueue({ text: ['Hey @everyone and @here, ', 'also <@&123> and <@', `${h.fake.users.bob.id}>`] });
    const interaction = await ask('ping everyone please');
    const [message] = h.fake.interactionMessages(interaction);
    expect(message!.content).toContain('@everyone');
    expect(message!.mention_everyone).toBe(false);
    const writes = h.fake.requests.filter((r) => r.method !== 'GET' && /messages|webhooks/.test(r.path) && r.status === 200);
    expect(writes.length).toBeGreaterThan(0);
    for (const write of writes) expect((write.body as { allowed_mentions?: unknown }).allowed_mentions).toEqual({ parse: [] });
    for (const m of h.fake.botMessages(general, { includeEphemeral: true })) expect(m.allowedMentions as object | undefined ?? { parse: [] }).toEqual({ parse: [] });
    expect(h.fake.violations).toEqual([]);
  });

  it('keeps the partial text and adds an error line when the upstream fails mid-stream', async () => {
    h.app.openrouter.enqueue({ text: ['Partial ', 'answer so far'], midStreamError: { code: 502, message: 'Provider returned error' } });
    const interaction = await ask('fail halfway');
    const message = h.fake.interactionMessages(interaction).at(-1)!;
    expect(message.content).toMatch(/^Partial answer so far\n\n⚠️ .+/);
    expect(hasFooter(message.content)).toBe(true);
    const [row] = await h.app.core.store.ledger({});
    expect(row).toBeDefined();
    expect(h.fake.violations).toEqual([]);
  });

  it('waits out a 429 on an edit for its retry-after and still delivers the whole answer', async () => {
    const { full, parts } = longText(900, 12);
    const midAnswer = afterFirstTextEdit(h.fake, (path) => h.fake.rateLimitNext(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), 3));
    h.app.openrouter.enqueue({ text: parts, chunkDelayMs: 4, restWaitsFor: midAnswer });
    const interaction = await ask('rate limit me');

    const messages = h.fake.interactionMessages(interaction);
    expect(joined(messages)).toBe(squash(full));
    const limited = h.fake.requests.find((r) => r.status === 429)!;
    expect(limited).toBeDefined();
    const next = h.fake.requests.find((r) => r.at > limited.at && r.method !== 'GET' && /webhooks|messages/.test(r.path));
    expect(next).toBeDefined();
    expect(next!.at - limited.at).toBeGreaterThanOrEqual(3000);
    expect(h.fake.violations).toEqual([]);
  });

  it('continues with the bot token as channel messages once the interaction token is about to expire', async () => {
    const { full, parts } = longText(3000, 30);
    h.app.openrouter.enqueue({ text: parts, chunkDelayMs: 3, restWaitsFor: afterFirstTextEdit(h.fake, () => h.clock.jump(15 * 60_000)) });
    const before = h.fake.requests.length;
    const interaction = await ask('take your time');

    const requests = h.fake.requests.slice(before);
    const jumpedAt = requests.findIndex((r) => r.method === 'PATCH' && r.path.startsWith('/webhooks/') && (r.body as { content?: string }).content !== '…thinking');
    expect(requests.slice(jumpedAt + 1).filter((r) => r.path.startsWith('/webhooks/'))).toEqual([]);
    expect(requests.some((r) => r.method === 'POST' && r.path === `/channels/${general}/messages`)).toBe(true);
    const answer = [...h.fake.interactionMessages(interaction), ...h.fake.botMessages(general).filter((m) => !m.interaction && BigInt(m.id) > BigInt(interaction.id))];
    expect(joined(answer)).toBe(squash(full));
    expect(hasFooter(answer.at(-1)!.content)).toBe(true);
    expect(h.fake.violations).toEqual([]);
  });

  it('switches to the bot token when Discord rejects an expired interaction token (50027)', async () => {
    const { full, parts } = longText(2600, 26);
    h.app.openrouter.enqueue({ text: parts, chunkDelayMs: 3, restWaitsFor: afterFirstTextEdit(h.fake, (path) => h.fake.expireToken(h.fake.interactionOfPath(path)!.id)) });
    const interaction = await ask('expire');

    const answer = [...h.fake.interactionMessages(interaction), ...h.fake.botMessages(general).filter((m) => !m.interaction && BigInt(m.id) > BigInt(interaction.id))];
    expect(joined(answer)).toBe(squash(full));
    expect(hasFooter(answer.at(-1)!.content)).toBe(true);
    // The one rejected call is the fake noting the expired token; nothing else.
    expect(h.fake.violations).toHaveLength(1);
    expect(h.fake.violations[0]).toMatch(/token expired/);
  });

  it('posts a new message when Discord refuses more edits of an old message (30046)', async () => {
    const { full, parts } = longText(600, 10);
    const midAnswer = afterFirstTextEdit(h.fake, () =>
      h.fake.failNext({
        method: 'PATCH',
        path: /^\/webhooks\//,
        status: 400,
        body: { code: 30046, message: 'Maximum number of edits to messages older than 1 hour reached. Try again later.' },
      }),
    );
    h.app.openrouter.enqueue({ text: parts, chunkDelayMs: 4, restWaitsFor: midAnswer });
    const interaction = await ask('old message');
    // The answer continues in a reply to the message Discord stopped letting us edit.
    const replacement = h.fake.botMessages(general).filter((m) => m.message_reference?.message_id === interaction.originalId);
    expect(replacement).toHaveLength(1);
    expect(answerText(replacement[0]!.content).replace(/\s+/g, ' ')).toBe(squash(full));
    expect(hasFooter(replacement[0]!.content)).toBe(true);
    // An answer is never abandoned: the stuck message loses its cursor and Stop button and says where the answer went.
    const stuck = h.fake.message(interaction.originalId!)!;
    expect(stuck.content).toMatch(/↪ The answer continues in the reply below\.$/);
    expect(stuck.content).not.toContain('▍');
    expect(stuck.components ?? []).toEqual([]);
    expect(h.fake.violations).toEqual([]);
  });

  it('aborts the upstream request and settles usage when the answer message is deleted', async () => {
    // The model keeps going (a hang after the text) until the bot aborts the request.
    h.app.openrouter.enqueue({ text: ['The start of a long answer'], hang: 'after-text' });
    void afterFirstTextEdit(h.fake, (path) => h.fake.deleteMessage(h.fake.interactionOfPath(path)!.originalId!));
    await ask('delete me');
    const upstream = h.app.openrouter.chatRequests().at(-1)!;
    await upstream.finished;
    expect(upstream.aborted).toBe(true);
    const rows = await h.app.core.store.ledger({});
    const row = rows.find((r) => r.outcome === 'cancelled');
    expect(row).toMatchObject({ outcome: 'cancelled', platform: 'discord', userId: h.fake.users.alice.id });
    expect(h.app.core.pipeline.running()).toBe(0);
    expect(h.fake.violations).toEqual([]);
  });

  it('answers a refusal (empty prompt) ephemerally, replacing the public "thinking"', async () => {
    const interaction = await ask('   ');
    expect(h.fake.interactionMessages(interaction)).toEqual(
      [expect.objectContaining({ ephemeralFor: h.fake.users.alice.id, content: expect.stringMatching(/empty/) })],
    );
    expect(h.fake.message(interaction.originalId!)).toBeUndefined();
    expect(h.fake.violations).toEqual([]);
  });

  it('Retry asks the same question again, as a new answer', async () => {
    const interaction = await ask('say it twice');
    const last = h.fake.interactionMessages(interaction).at(-1)!;
    const retry = buttonIds(last).find((id) => id.startsWith('sb:retry:'))!;
    const click = await h.fake.clickButton({ user: h.fake.users.alice, messageId: last.id, customId: retry });
    await h.adapter.idle();
    const [again] = h.fake.interactionMessages(click);
    expect(again!.content).toMatch(/^You said: say it twice\n\n/);
    const prompts = h.app.openrouter.chatRequests().map((r) => r.body!.messages.at(-1)!.content);
    expect(prompts).toEqual(['say it twice', 'say it twice']);
    expect(h.fake.violations).toEqual([]);
  });
});
