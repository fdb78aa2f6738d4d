/**
 * Conversations: mentions answered as replies, reply chains as history,
 * threads, thread-per-conversation, DMs, and a channel the bot cannot post in.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Routes } from 'discord.js';
import type { FakeMessage } from '../../fakes/discord.ts';
import { hasFooter, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
let general: string;
let bot: string;

beforeAll(async () => {
  h = await startHarness();
  general = h.fake.channels.general.id;
  bot = h.fake.bot.id;
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

/** Waits for the bot's finished answer replying to `message` (in its channel). */
async function answerTo(message: FakeMessage): Promise<FakeMessage> {
  const answer = await waitFor(
    () => h.fake.botMessages(message.channel_id).find((m) => m.message_reference?.message_id === message.id),
    `an answer to ${message.content}`,
  );
  await waitFor(() => h.app.core.pipeline.running() === 0 && hasFooter(answer.content), 'the answer to finish');
  await h.adapter.idle();
  return answer;
}

const lastRequestMessages = () => h.app.openrouter.chatRequests().at(-1)!.body!.messages.map((m) => ({ role: m.role, content: m.content }));

describe('conversations', () => {
  it('answers a mention as a reply, and a reply to the answer (no mention) continues with the chain as history', async () => {
    const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${bot}> what is the capital of France?` });
    const first = await answerTo(question);
    expect(first.content).toMatch(/^You said: what is the capital of France\?\n\n/);
    expect(first.type).toBe(19);

    const followUp = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: 'and of Italy?', replyTo: first.id });
    const second = await answerTo(followUp);
    expect(second.content).toMatch(/^You said: and of Italy\?/);
    expect(lastRequestMessages().slice(1)).toEqual([
      { role: 'user', content: 'what is the capital of France?' },
      { role: 'assistant', content: 'You said: what is the capital of France?' },
      { role: 'user', content: 'and of Italy?' },
    ]);
    // Unrelated mentions start afresh.
    const other = h.fake.sendMessage({ user: h.fake.users.bob, channelId: general, content: `<@${bot}> something else` });
    await answerTo(other);
    expect(lastRequestMessages().slice(1)).toEqual([{ role: 'user', content: 'something else' }]);
    expect(h.fake.violations).toEqual([]);
  });

  it('continues an /ask answer when someone replies to it (the question is remembered)', async () => {
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'ask', options: { prompt: 'name a colour' } });
    await h.adapter.idle();
    const answer = h.fake.message(interaction.originalId!)!;
    await answerTo(h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: 'another one', replyTo: answer.id }));
    expect(lastRequestMessages().slice(1)).toEqual([
      { role: 'user', content: 'name a colour' },
      { role: 'assistant', content: 'You said: name a colour' },
      { role: 'user', content: 'another one' },
    ]);
    expect(h.fake.violations).toEqual([]);
  });

  it("uses a thread's earlier messages as history", async () => {
    const thread = h.fake.createThread(general, 'Planning', h.fake.users.alice);
    h.fake.sendMessage({ user: h.fake.users.alice, channelId: thread.id, content: 'We meet on Friday.' });
    h.fake.sendMessage({ user: h.fake.users.bob, channelId: thread.id, content: 'Bring the slides.' });
    const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: thread.id, content: `<@${bot}> summarise this thread` });
    await answerTo(question);
    expect(lastRequestMessages().slice(1)).toEqual([
      { role: 'user', content: 'Alice: We meet on Friday.' },
      { role: 'user', content: 'Bob: Bring the slides.' },
      { role: 'user', content: 'Alice: summarise this thread' },
    ]);

    // /ask in the thread sees the thread too, including the bot's answer.
    await h.fake.runCommand({ user: h.fake.users.alice, channelId: thread.id, name: 'ask', options: { prompt: 'and who brings slides?' } });
    await h.adapter.idle();
    const messages = lastRequestMessages();
    expect(messages.at(-2)).toEqual({ role: 'assistant', content: 'You said: Alice: summarise this thread' });
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'Alice: and who brings slides?' });
    expect(h.fake.violations).toEqual([]);
  });

  it('answers DMs without a mention, with the DM as history', async () => {
    const dm = h.fake.dmChannel(h.fake.users.carol);
    const first = await answerTo(h.fake.sendMessage({ user: h.fake.users.carol, channelId: dm.id, content: 'hi bot' }));
    expect(first.content).toMatch(/^You said: hi bot/);
    await answerTo(h.fake.sendMessage({ user: h.fake.users.carol, channelId: dm.id, content: 'remember me?' }));
    expect(lastRequestMessages().slice(1)).toEqual([
      { role: 'user', content: 'hi bot' },
      { role: 'assistant', content: 'You said: hi bot' },
      { role: 'user', content: 'remember me?' },
    ]);
    const [row] = (await h.app.core.store.ledger({})).filter((r) => r.userId === h.fake.users.carol.id);
    expect(row).toMatchObject({ platform: 'discord', workspaceId: '@me', channelId: dm.id });
    expect(h.fake.violations).toEqual([]);
  });

  it('opens a thread per conversation when the channel asks for it; the thread continues without mentions', async () => {
    const random = h.fake.channels.random.id;
    await h.fake.runCommand({
      user: h.fake.users.bob,
      channelId: random,
      name: 'model',
      subcommand: 'option',
      options: { option: 'thread-per-conversation', value: 'on' },
    });
    await h.adapter.idle();
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: random, name: 'ask', options: { prompt: 'plan a trip' } });
    await h.adapter.idle();

    const starter = h.fake.message(interaction.originalId!)!;
    expect(starter.content).toBe(`💬 <@${h.fake.users.alice.id}> asked:\n>>> plan a trip`);
    const thread = h.fake.channel(starter.id)!;
    expect(thread).toMatchObject({ type: 11, parent_id: random, name: 'plan a trip', owner_id: bot });
    const [answer] = h.fake.botMessages(thread.id);
    expect(answer!.content).toMatch(/^You said: plan a trip\n\n/);

    const next = h.fake.sendMessage({ user: h.fake.users.alice, channelId: thread.id, content: 'by train please' });
    await answerTo(next);
    expect(lastRequestMessages().slice(1)).toEqual([
      { role: 'user', content: 'plan a trip' },
      { role: 'assistant', content: 'You said: plan a trip' },
      { role: 'user', content: 'by train please' },
    ]);
    expect(h.fake.violations).toEqual([]);
  });

  it('says clearly, and privately, when it lacks permissions in a channel', async () => {
    const muted = h.fake.channels.muted.id;
    // /ask with thread-per-conversation needs Create Public Threads: ephemeral error.
    await h.fake.runCommand({
      user: h.fake.users.owner,
      channelId: muted,
      name: 'model',
      subcommand: 'option',
      options: { option: 'thread-per-conversation', value: 'on' },
    });
    await h.adapter.idle();
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: muted, name: 'ask', options: { prompt: 'hello?' } });
    await h.adapter.idle();
    expect(h.fake.interactionMessages(interaction)).toEqual([
      expect.objectContaining({ ephemeralFor: h.fake.users.alice.id, content: expect.stringMatching(/missing permissions/) }),
    ]);

    // A mention there cannot be answered in the channel: the bot says so in a DM and stops.
    h.fake.sendMessage({ user: h.fake.users.carol, channelId: muted, content: `<@${bot}> are you there?` });
    const dm = h.fake.dmChannel(h.fake.users.carol);
    const notice = await waitFor(() => h.fake.botMessages(dm.id).find((m) => /missing permissions/.test(m.content)), 'a DM about permissions');
    expect(notice.content).toContain(`<#${muted}>`);
    // The upstream request started alongside the placeholder; it is aborted and settled as an error.
    const row = await waitFor(async () => (await h.app.core.store.ledger({})).find((r) => r.channelId === muted), 'the ledger row');
    expect(row.outcome).toBe('error');
    expect(h.fake.botMessages(muted)).toEqual([]);
    expect(h.fake.violations).toEqual([]);
  });

  it("reads its own answers from their records, never from their text: a footer or status in any wording stays out of the history", async () => {
    const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${bot}> pick a number` });
    const answer = await answerTo(question);
    // What an older (or newer) version might have shown under the same answer.
    await h.app.core.host.budget.run(`discord:${general}`, { count: 5, windowMs: 5000 }, () =>
      h.adapter.client.rest.patch(Routes.channelMessage(general, answer.id), {
        body: { content: 'You said: pick a number\n\n🔧 still thinking about tools…\n\n— gpt-4o-mini, 12 tokens, $0, 1 s —', allowed_mentions: { parse: [] } },
      }),
    );
    await answerTo(h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: 'why that one?', replyTo: answer.id }));
    expect(lastRequestMessages().slice(1)).toEqual([
      { role: 'user', content: 'pick a number' },
      { role: 'assistant', content: 'You said: pick a number' },
      { role: 'user', content: 'why that one?' },
    ]);
    expect(h.fake.violations).toEqual([]);
  });

  it('after /new in a plain channel, a reply chain started before it continues without the earlier messages', async () => {
    const question = h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${bot}> remember the word banana` });
    const answer = await answerTo(question);
    await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'new' });
    await h.adapter.idle();
    expect(h.fake.ephemeralFor(h.fake.users.alice.id).at(-1)!.content).toMatch(/Starting afresh/);

    await answerTo(h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: 'what was the word?', replyTo: answer.id }));
    expect(lastRequestMessages().slice(1)).toEqual([{ role: 'user', content: 'what was the word?' }]);
    expect(h.fake.violations).toEqual([]);
  });

  it('never answers bots: another bot mentioning it, or its own messages in a thread it owns', async () => {
    const otherBot = { ...h.fake.addUser('otherbot'), bot: true };
    h.fake.sendMessage({ user: otherBot, channelId: general, content: `<@${bot}> answer me, fellow bot` });
    const thread = h.fake.createThread(general, 'Bot thread', h.fake.bot);
    h.fake.sendMessage({ user: h.fake.bot, channelId: thread.id, content: 'a message of my own' });
    await answerTo(h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${bot}> and me?` }));
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
    expect(lastRequestMessages().slice(1)).toEqual([{ role: 'user', content: 'and me?' }]);
    expect(h.fake.botMessages(thread.id).map((m) => m.content)).toEqual(['a message of my own']);
    expect(h.fake.violations).toEqual([]);
  });
});
