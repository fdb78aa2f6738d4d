/**
 * Command registration: on start (only when the definitions changed), globally
 * or per guild, and through `npm run commands:deploy`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Routes } from 'discord.js';
import { parseConfig } from '../../../src/config.ts';
import { commandsJson } from '../../../src/platforms/discord/command-json.ts';
import { deployCommands } from '../../../src/platforms/discord/deploy-commands.ts';
import { COMMANDS_HASH_KEY } from '../../../src/platforms/discord/register-commands.ts';
import { createLogger } from '../../../src/log.ts';
import { commands } from '../../../commands/index.ts';
import { startFakeDiscord, type FakeDiscord } from '../../fakes/discord.ts';
import { TEST_API_KEY } from '../../helpers/test-app.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;
let fake: FakeDiscord | undefined;
afterEach(async () => {
  await h?.close();
  await fake?.close();
  h = undefined;
  fake = undefined;
});

describe('command registration', () => {
  it('registers every command in the guild on first start, and not again while the definitions are unchanged', async () => {
    h = await startHarness();
    expect(h.fake.commandPuts).toHaveLength(1);
    expect(h.fake.commandPuts[0]!.guildId).toBe(h.fake.guildId);
    const registered = h.fake.commands(h.fake.guildId);
    expect(registered.map((c) => c.name)).toEqual(commands.map((c) => c.name));
    expect(registered.find((c) => c.name === 'quota')!.default_member_permissions).toBe('32');
    expect(registered.find((c) => c.name === 'ask')!.default_member_permissions).toBeNull();
    const modelSet = registered.find((c) => c.name === 'model')!.options!.find((o) => o.name === 'set')!;
    expect(modelSet.options).toEqual([
      expect.objectContaining({ type: 3, name: 'model', required: true, autocomplete: true }),
      expect.objectContaining({ type: 3, name: 'scope', required: false, choices: [{ name: 'channel', value: 'channel' }, { name: 'server', value: 'server' }] }),
    ]);
    expect(await h.app.core.store.getMeta(COMMANDS_HASH_KEY)).toMatch(/^[0-9a-f]{64}$/);

    // A restart with the same definitions does not register again.
    await h.adapter.stop();
    const again = h.newAdapter();
    await again.start();
    expect(h.fake.commandPuts).toHaveLength(1);
    // Forcing (what commands:deploy does) always does.
    expect((await again.registerCommands({ force: true })).registered).toBe(true);
    expect(h.fake.commandPuts).toHaveLength(2);
    // A changed hash (other definitions, another target) registers on start.
    await h.app.core.store.setMeta(COMMANDS_HASH_KEY, 'stale');
    await again.stop();
    await h.newAdapter().start();
    expect(h.fake.commandPuts).toHaveLength(3);
    expect(h.fake.violations).toEqual([]);
  });

  it('registers globally without DISCORD_GUILD_ID', async () => {
    h = await startHarness({ global: true });
    expect(h.fake.commandPuts.map((p) => p.guildId)).toEqual([undefined]);
    expect(h.fake.commands().length).toBe(commands.length);
    // Global commands work in the guild too.
    await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'new' });
    await h.adapter.idle();
    expect(h.fake.ephemeralFor(h.fake.users.alice.id).at(-1)!.content).toMatch(/Starting afresh/);
    expect(h.fake.violations).toEqual([]);
  });

  it('npm run commands:deploy registers and reports; a bad token gets a clear message', async () => {
    fake = await startFakeDiscord();
    const lines: string[] = [];
    const logger = createLogger({ level: 'silent' });
    const env = { OPENROUTER_API_KEY: TEST_API_KEY, DATABASE_URL: 'sqlite::memory:', DISCORD_API_URL: fake.apiUrl };
    const config = parseConfig({ ...env, DISCORD_TOKEN: fake.token, DISCORD_GUILD_ID: fake.guildId });
    expect(await deployCommands(config, { logger, write: (l) => lines.push(l) })).toBe(0);
    expect(lines).toEqual([`Registered ${commands.length} commands in guild ${fake.guildId}; they are available right away.`]);
    const expected: unknown[] = commandsJson(commands).map((c): unknown => expect.objectContaining({ name: c.name, options: c.options }));
    expect(fake.commands(fake.guildId)).toEqual(expected);

    lines.length = 0;
    const wrong = parseConfig({ ...env, DISCORD_TOKEN: 'not-the-token' });
    expect(await deployCommands(wrong, { logger, write: (l) => lines.push(l) })).toBe(1);
    expect(lines[0]).toMatch(/Discord rejected DISCORD_TOKEN \(401 Unauthorized\)/);

    lines.length = 0;
    expect(await deployCommands(parseConfig(env), { logger, write: (l) => lines.push(l) })).toBe(1);
    expect(lines[0]).toMatch(/DISCORD_TOKEN is not set/);
  });

  it('a command this version never registered gets a clear private reply and the commands are registered again', async () => {
    h = await startHarness();
    const current = commandsJson(commands);
    // A command an older version registered, still shown by Discord.
    await h.adapter.client.rest.put(Routes.applicationGuildCommands(h.fake.applicationId, h.fake.guildId), {
      body: [...current, { type: 1, name: 'legacy', description: 'Gone in this version', options: [] }],
    });
    const puts = h.fake.commandPuts.length;
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'legacy' });
    await h.adapter.idle();
    expect(interaction.ephemeral).toBe(true);
    expect(h.fake.ephemeralFor(h.fake.users.alice.id).at(-1)!.content).toMatch(/I don't know `\/legacy` any more; the command list is being updated/);
    expect(h.fake.commandPuts).toHaveLength(puts + 1);
    expect(h.fake.commands(h.fake.guildId).map((c) => c.name)).toEqual(commands.map((c) => c.name));
    expect(h.fake.violations).toEqual([]);
  });
});
