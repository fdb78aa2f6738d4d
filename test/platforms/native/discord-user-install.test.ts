/**
 * Discord's user-installed app through the real discord.js client: commands
 * offered for both installs and every context, `/ask` in a group DM the bot
 * is not in (answered through the interaction alone, governed like a DM),
 * and `/ask private:true` answered ephemerally in a server channel.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../discord/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('Discord user-installed commands', () => {
  it('registers every command for guild and user installs, in guilds, bot DMs and private channels', async () => {
    h = await startHarness({ global: true, env: { ALLOW_DMS: 'true' } });
    for (const command of h.fake.commands()) expect(command).toMatchObject({ integration_types: [0, 1], contexts: [0, 1, 2] });
  });

  it('answers /ask in a group DM through the interaction only, as a DM (DM workspace, per-user limits), with no bot-token call there', async () => {
    h = await startHarness({ global: true, env: { ALLOW_DMS: 'true' } });
    const group = h.fake.groupDm([h.fake.users.alice, h.fake.users.bob]);
    h.app.openrouter.enqueue({ text: ['Pizza ', 'for ', 'everyone.'], chunkDelayMs: 10 });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: group.id, name: 'ask', options: { prompt: 'What should we eat?' } });
    await h.adapter.idle();
    const [message, ...more] = h.fake.interactionMessages(interaction);
    expect(more).toEqual([]);
    expect(message!.content).toContain('Pizza for everyone.');
    expect(message!.ephemeralFor).toBeUndefined();
    // The bot is not in the group DM: nothing was asked of the channel with the bot token.
    expect(h.fake.requests.filter((r) => r.path.startsWith(`/channels/${group.id}`))).toEqual([]);
    const [row] = await h.app.core.store.ledger({ platform: 'discord' });
    expect(row).toMatchObject({ workspaceId: '@me', channelId: group.id, userId: h.fake.users.alice.id, outcome: 'ok' });
    expect(h.app.openrouter.chatRequests()[0]!.body!.messages.slice(1).map((m) => m.content)).toEqual(['What should we eat?']);
    expect(h.fake.violations).toEqual([]);
  });

  it('refuses user-installed use like a DM when DMs are off', async () => {
    h = await startHarness({ global: true, env: { ALLOW_DMS: 'false' } });
    const group = h.fake.groupDm([h.fake.users.alice, h.fake.users.bob]);
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: group.id, name: 'ask', options: { prompt: 'hi' } });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
    const texts = h.fake.interactionMessages(interaction).map((m) => m.content);
    expect(texts.join('\n')).toContain('Direct messages to this bot are turned off');
    expect(h.fake.violations).toEqual([]);
  });

  it('answers /ask private:true ephemerally in a server channel: only the asker sees it', async () => {
    h = await startHarness({ global: true });
    h.app.openrouter.enqueue({ text: ['Only ', 'you ', 'see this.'], chunkDelayMs: 10 });
    const channel = h.fake.channels.general;
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: channel.id, name: 'ask', options: { prompt: 'secret?', private: true } });
    await h.adapter.idle();
    const [message] = h.fake.interactionMessages(interaction);
    expect(message!.content).toContain('Only you see this.');
    expect(message!.ephemeralFor).toBe(h.fake.users.alice.id);
    expect(h.fake.messages(channel.id)).toEqual([]);
    expect(h.fake.violations).toEqual([]);
  });
});
