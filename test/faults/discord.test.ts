/**
 * Fault tests on Discord: the real discord.js adapter against the fake
 * Discord (scaled clock), the real core against the fake OpenRouter.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buttonIds, type FakeInteraction, type FakeMessage } from '../fakes/discord.ts';
import { afterFirstTextEdit, answerText, startHarness, type Harness } from '../platforms/discord/harness.ts';
import { FAULT_ENV, faultTools, IN_PROGRESS, UPSTREAM_FAULTS } from './cases.ts';

let h: Harness;
let general: string;

beforeAll(async () => {
  h = await startHarness({ env: FAULT_ENV });
  for (const tool of faultTools) h.app.core.registry.register(tool);
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

async function ask(prompt: string): Promise<FakeInteraction> {
  const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'ask', options: { prompt } });
  await h.adapter.idle();
  return interaction;
}

/** The interaction's messages plus any the bot continued with as channel messages. */
function answerMessages(interaction: FakeInteraction): FakeMessage[] {
  const continued = h.fake.botMessages(general).filter((m) => !m.interaction && BigInt(m.id) > BigInt(interaction.id));
  return [...h.fake.interactionMessages(interaction), ...continued];
}


async function expectCleanEnd(interaction: FakeInteraction, ledgerBefore: number, outcome: string, errorKind: string | null, violations: RegExp[] = []): Promise<void> {
  for (const message of answerMessages(interaction)) {
    expect(message.content).not.toMatch(IN_PROGRESS);
    expect(buttonIds(message).filter((id) => id.startsWith('sb:stop'))).toEqual([]);
  }
  const rows = await h.app.core.store.ledger({});
  expect(rows).toHaveLength(ledgerBefore + 1);
  expect(rows.at(-1)).toMatchObject({ platform: 'discord', outcome, errorKind, userId: h.fake.users.alice.id });
  const usage = await h.app.core.store.usage('discord', h.fake.guildId, h.fake.users.alice.id, new Date(h.clock.now()));
  expect(usage.reserved.requests).toBe(0);
  expect(h.app.core.pipeline.running()).toBe(0);
  expect(h.fake.violations).toHaveLength(violations.length);
  violations.forEach((pattern, i) => expect(h.fake.violations[i]).toMatch(pattern));

  h.fake.violations.length = 0;
  h.app.openrouter.reset();
  const next = await ask('still alive?');
  expect(h.fake.interactionMessages(next).at(-1)!.content).toMatch(/^You said: still alive\?\n\n.*gpt-4o-mini/);
  expect(h.fake.violations).toEqual([]);
}

const ledgerSize = async () => (await h.app.core.store.ledger({})).length;

describe('faults on Discord (real discord.js against the fake Discord)', () => {
  for (const fault of UPSTREAM_FAULTS.filter((f) => !f.coreOnly)) {
    it(fault.name, async () => {
      const before = await ledgerSize();
      fault.arrange(h.app.openrouter);
      const interaction = await ask(`fault: ${fault.name}`);
      expect(interaction.ackType).toBe(5);
      expect(answerMessages(interaction).map((m) => m.content).join('\n')).toMatch(fault.shows);
      fault.check?.(h.app.openrouter);
      await expectCleanEnd(interaction, before, fault.outcome, fault.errorKind);
    });
  }

  it('a platform 429 on an edit is waited out and the whole answer still arrives', async () => {
    const before = await ledgerSize();
    const midAnswer = afterFirstTextEdit(h.fake, (path) => h.fake.rateLimitNext(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), 1));
    h.app.openrouter.enqueue({ text: ['One ', 'two ', 'three ', 'four ', 'five'], chunkDelayMs: 40, restWaitsFor: midAnswer });
    const interaction = await ask('rate limit me');
    expect(h.fake.requests.some((r) => r.status === 429)).toBe(true);
    expect(answerText(answerMessages(interaction).at(-1)!.content)).toBe('One two three four five');
    await expectCleanEnd(interaction, before, 'ok', null);
  });

  it('an expired interaction token: the answer continues as channel messages with the bot token', async () => {
    const before = await ledgerSize();
    const midAnswer = afterFirstTextEdit(h.fake, (path) => h.fake.expireToken(h.fake.interactionOfPath(path)!.id));
    h.app.openrouter.enqueue({ text: ['Before ', 'the token ', 'expired, ', 'and after.'], chunkDelayMs: 40, restWaitsFor: midAnswer });
    const interaction = await ask('expire');
    const messages = answerMessages(interaction);
    expect(messages.at(-1)!.content).toMatch(/Before the token expired, and after\.\n\n.*gpt-4o-mini/);
    await expectCleanEnd(interaction, before, 'ok', null, [/token expired/]);
  });

  it('the answer message deleted while streaming stops the request upstream and settles it as cancelled', async () => {
    const before = await ledgerSize();
    h.app.openrouter.enqueue({ text: ['The start ', 'of a long answer'], hang: 'after-text' });
    void afterFirstTextEdit(h.fake, (path) => h.fake.deleteMessage(h.fake.interactionOfPath(path)!.originalId!));
    const interaction = await ask('delete me');
    const upstream = h.app.openrouter.chatRequests().at(-1)!;
    await upstream.finished;
    expect(upstream.aborted).toBe(true);
    expect(h.fake.message(interaction.originalId!)).toBeUndefined();
    await expectCleanEnd(interaction, before, 'cancelled', 'aborted');
  });
});
