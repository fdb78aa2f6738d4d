/**
 * Commands other than a plain /ask: admin checks, ephemeral replies,
 * autocomplete, and the Stop button.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buttonIds } from '../../fakes/discord.ts';
import { startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;
let general: string;

beforeAll(async () => {
  h = await startHarness({ env: { ADMIN_USER_IDS: 'discord:999999999999999999' } });
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
  expect(h.fake.violations).toEqual([]);
});

const lastEphemeral = (userId: string) => h.fake.ephemeralFor(userId).at(-1)?.content;

describe('admin commands', () => {
  it('refuses /model set to a member without Manage Guild and accepts it from one with it; /ask then uses the new model', async () => {
    const { alice, bob } = h.fake.users;
    const refused = await h.fake.runCommand({
      user: alice,
      channelId: general,
      name: 'model',
      subcommand: 'set',
      options: { model: 'anthropic/claude-3.5-sonnet' },
    });
    await h.adapter.idle();
    expect(refused.ackType).toBe(5);
    expect(refused.ephemeral).toBe(true);
    expect(lastEphemeral(alice.id)).toMatch(/^Only admins can use `\/model set`/);

    await h.fake.runCommand({ user: bob, channelId: general, name: 'model', subcommand: 'set', options: { model: 'anthropic/claude-3.5-sonnet' } });
    await h.adapter.idle();
    expect(lastEphemeral(bob.id)).toMatch(/^The model for this channel is now `anthropic\/claude-3.5-sonnet`/);

    const interaction = await h.fake.runCommand({ user: alice, channelId: general, name: 'ask', options: { prompt: 'who are you?' } });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests().at(-1)!.body!.model).toBe('anthropic/claude-3.5-sonnet');
    expect(h.fake.interactionMessages(interaction).at(-1)!.content).toMatch(/anthropic\/claude-3\.5-sonnet · /);

    // The guild owner counts as an admin too; channel settings are per channel.
    await h.fake.runCommand({ user: h.fake.users.owner, channelId: general, name: 'model', subcommand: 'reset', options: {} });
    await h.adapter.idle();
    expect(lastEphemeral(h.fake.users.owner.id)).toMatch(/reset; the model here is now `openai\/gpt-4o-mini`/);
  });

  it('shows read-only commands to anyone, ephemerally', async () => {
    const interaction = await h.fake.runCommand({ user: h.fake.users.carol, channelId: general, name: 'models', options: { search: 'llama' } });
    await h.adapter.idle();
    expect(interaction.ephemeral).toBe(true);
    expect(lastEphemeral(h.fake.users.carol.id)).toContain('meta-llama/llama-3.1-8b-instruct:free');
    expect(h.fake.botMessages(general).filter((m) => m.interaction?.id === interaction.id)).toEqual([]);
  });
});

describe('autocomplete', () => {
  it('offers catalog models with their prices for /model set and /ask', async () => {
    const choices = await h.fake.autocomplete({
      user: h.fake.users.bob,
      channelId: general,
      name: 'model',
      subcommand: 'set',
      options: { model: 'claude' },
      focused: 'model',
    });
    expect(choices[0]).toEqual({ name: 'anthropic/claude-3.5-sonnet · $3.00 in / $15.00 out per 1M tokens', value: 'anthropic/claude-3.5-sonnet' });
    const all = await h.fake.autocomplete({ user: h.fake.users.alice, channelId: general, name: 'ask', options: { prompt: 'x', model: '' }, focused: 'model' });
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all.length).toBeLessThanOrEqual(25);
    expect(all.map((c) => c.value)).toContain('meta-llama/llama-3.1-8b-instruct:free');
    expect(all.find((c) => c.value === 'meta-llama/llama-3.1-8b-instruct:free')!.name).toMatch(/· free$/);
  });

  it('offers tools for /tools enable', async () => {
    const choices = await h.fake.autocomplete({
      user: h.fake.users.bob,
      channelId: general,
      name: 'tools',
      subcommand: 'enable',
      options: { tool: 'calc' },
      focused: 'tool',
    });
    expect(choices.map((c) => c.value)).toEqual(['calculator']);
    expect(choices[0]!.name.length).toBeLessThanOrEqual(100);
  });
});

describe('the Stop button', () => {
  it('stops the answer for the asker, and refuses anyone else', async () => {
    const { alice, carol } = h.fake.users;
    h.app.openrouter.enqueue({ text: ['Counting: one, ', 'two, '], hang: 'after-text' });
    const started = h.fake.runCommand({ user: alice, channelId: general, name: 'ask', options: { prompt: 'count forever' } });
    const interaction = await started;
    const message = await waitFor(() => {
      const original = h.fake.message(interaction.originalId!);
      return original && original.content.startsWith('Counting') && buttonIds(original).length > 0 ? original : undefined;
    }, 'the Stop button');
    const stop = buttonIds(message).find((id) => id.startsWith('sb:stop:'))!;

    const denied = await h.fake.clickButton({ user: carol, messageId: message.id, customId: stop });
    expect(denied.ephemeral).toBe(true);
    expect(lastEphemeral(carol.id)).toMatch(/Only the person who asked, or an admin/);
    expect(h.app.core.pipeline.running()).toBe(1);

    const pressed = await h.fake.clickButton({ user: alice, messageId: message.id, customId: stop });
    expect(pressed.ackType).toBe(6);
    await h.adapter.idle();
    const final = h.fake.message(message.id)!;
    expect(final.content).toMatch(/^Counting: one, two,\s*\n\n⏹️ Stopped by Alice\.\n\n/);
    expect(buttonIds(final)).toEqual([expect.stringMatching(/^sb:retry:/)]);
    const upstream = h.app.openrouter.chatRequests().at(-1)!;
    await upstream.finished;
    expect(upstream.aborted).toBe(true);
    const rows = await h.app.core.store.ledger({});
    expect(rows.at(-1)).toMatchObject({ outcome: 'cancelled', userId: alice.id });

    const late = await h.fake.clickButton({ user: alice, messageId: message.id, customId: stop, stale: true });
    expect(late.ephemeral).toBe(true);
    expect(lastEphemeral(alice.id)).toMatch(/already finished/);
  });

  it('lets an admin (Manage Guild) stop someone else’s answer', async () => {
    h.app.openrouter.enqueue({ text: ['Working on it'], hang: 'after-text' });
    const interaction = await h.fake.runCommand({ user: h.fake.users.carol, channelId: general, name: 'ask', options: { prompt: 'long job' } });
    const message = await waitFor(() => {
      const original = h.fake.message(interaction.originalId!);
      return original && original.content.startsWith('Working') ? original : undefined;
    }, 'the answer');
    const stop = buttonIds(message).find((id) => id.startsWith('sb:stop:'))!;
    await h.fake.clickButton({ user: h.fake.users.bob, messageId: message.id, customId: stop });
    await h.adapter.idle();
    expect(h.fake.message(message.id)!.content).toMatch(/⏹️ Stopped by Bob\./);
  });

  it('Retry: anyone else gets a private "only the person who asked, or an admin"; the asker gets a new answer', async () => {
    const { alice, carol } = h.fake.users;
    const interaction = await h.fake.runCommand({ user: alice, channelId: general, name: 'ask', options: { prompt: 'once more' } });
    await h.adapter.idle();
    const last = h.fake.interactionMessages(interaction).at(-1)!;
    const retry = buttonIds(last).find((id) => id.startsWith('sb:retry:'))!;
    expect(retry).toBeDefined();

    const denied = await h.fake.clickButton({ user: carol, messageId: last.id, customId: retry });
    await h.adapter.idle();
    expect(denied.ephemeral).toBe(true);
    expect(lastEphemeral(carol.id)).toMatch(/^Only the person who asked, or an admin, can retry this answer\./);
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);

    const again = await h.fake.clickButton({ user: alice, messageId: last.id, customId: retry });
    await h.adapter.idle();
    expect(again.ackType).toBe(5);
    expect(h.fake.interactionMessages(again).at(-1)!.content).toMatch(/^You said: once more\n\n/);
    expect(h.app.openrouter.chatRequests()).toHaveLength(2);
  });
});

describe('buttons this version does not know', () => {
  it('answer privately that the button no longer works', async () => {
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: general, name: 'ask', options: { prompt: 'hi' } });
    await h.adapter.idle();
    const message = h.fake.interactionMessages(interaction).at(-1)!;
    for (const customId of ['sb:share:some-request', 'legacy-button']) {
      const click = await h.fake.clickButton({ user: h.fake.users.alice, messageId: message.id, customId, stale: true });
      await h.adapter.idle();
      expect(click.ephemeral).toBe(true);
      expect(lastEphemeral(h.fake.users.alice.id)).toBe('This button no longer works.');
    }
  });
});
