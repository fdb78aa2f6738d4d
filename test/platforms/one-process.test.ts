/**
 * `npm start` as an operator runs it: the real entry point in its own process,
 * with Discord and Slack configured at once, against the fakes on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnBot, type BotProcess } from '../helpers/entry-point.ts';
import { startFakeDiscord, type FakeDiscord } from '../fakes/discord.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { waitFor as poll, type Check } from '../helpers/wait.ts';

const KEY = 'sk-or-v1-one-process-0123456789';

const waitFor = <T>(check: Check<T>, what: string, timeoutMs = 15_000): Promise<T> => poll(check, what, timeoutMs, 20);

describe('npm start with Discord and Slack in one process', () => {
  let dir: string;
  let openrouter: FakeOpenRouter;
  let discord: FakeDiscord;
  let slack: FakeSlack;
  let bot: BotProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-one-'));
    openrouter = await startFakeOpenRouter({ apiKey: KEY });
    // The key is nearly spent: $2 of $10 left, under the alert's $5.
    openrouter.key = { ...openrouter.key, limit: 10, limit_remaining: 2, usage: 8 };
    discord = await startFakeDiscord();
    slack = await startFakeSlack();
    slack.addUser({ id: 'U0ALICE', name: 'alice', realName: 'Alice Archer', displayName: 'Alice' });
    bot = spawnBot(
      {
        OPENROUTER_API_KEY: KEY,
        OPENROUTER_BASE_URL: openrouter.url,
        DEFAULT_MODEL: 'openai/gpt-4o-mini',
        DISCORD_TOKEN: discord.token,
        DISCORD_API_URL: discord.apiUrl,
        DISCORD_GUILD_ID: discord.guildId,
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_APP_TOKEN: slack.appToken,
        SLACK_API_URL: slack.apiUrl,
        KEY_CREDIT_ALERT_USD: '5',
        BUDGET_ALERT_CHANNEL: `discord:${discord.channels.random.id}`,
      },
      dir,
    );
    await waitFor(() => bot.output().includes('Switchboard is running'), 'the bot to start', 30_000);
  }, 40_000);

  afterAll(async () => {
    if (bot.child.exitCode === null) {
      bot.child.kill('SIGTERM');
      await bot.exited;
    }
    await discord.close();
    await slack.close();
    await openrouter.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates its SQLite database, registers Discord commands and connects both platforms', () => {
    expect(bot.output()).toMatch(/"platform":"discord".*platform connected/);
    expect(bot.output()).toMatch(/"platform":"slack".*platform connected/);
    expect(discord.commands(discord.guildId).map((c) => c.name).sort()).toEqual(
      ['ask', 'image', 'model', 'models', 'new', 'prompt', 'quota', 'stop', 'tools', 'usage'],
    );
    expect(slack.socketConnected()).toBe(true);
  });

  it('answers /ask on Discord and a mention on Slack from the same process and ledger', async () => {
    openrouter.enqueue({ text: ['Hello from ', 'Discord'] });
    await discord.runCommand({ user: discord.users.alice, channelId: discord.channels.general.id, name: 'ask', options: { prompt: 'hi' } });
    await waitFor(() => discord.botMessages(discord.channels.general.id).some((m) => m.content.includes('Hello from Discord') && m.content.includes('openai/gpt-4o-mini')), 'the Discord answer');

    openrouter.enqueue({ text: ['Hello from ', 'Slack'] });
    const mention = await slack.mention({ user: 'U0ALICE', channel: 'C0GENERAL', text: `<@${slack.botUserId}> hi there` });
    await waitFor(
      () => slack.botMessages('C0GENERAL', mention.ts).some((m) => slack.visibleText(m).includes('Hello from Slack')),
      'the Slack answer',
    );
    expect(openrouter.chatRequests()).toHaveLength(2);
    expect(discord.violations).toEqual([]);
    expect(slack.violations).toEqual([]);
    expect(bot.output()).not.toContain(KEY);
    expect(bot.output()).not.toContain(discord.token);
    expect(bot.output()).not.toContain(slack.botToken);
  });

  it('starts the key-credit watcher: the first paid answer posts the alert to the budget channel, once', async () => {
    const alerts = () => discord.botMessages(discord.channels.random.id).filter((m) => m.content.includes('OpenRouter credit alert'));
    const alert = await waitFor(() => alerts()[0], 'the key credit alert');
    expect(alert.content).toContain('the key has $2.00 left of its $10.00 limit, below the $5.00 set in KEY_CREDIT_ALERT_USD');
    expect(openrouter.requests.filter((r) => r.path === '/key').length).toBeGreaterThanOrEqual(1);
    // Another paid answer in the same month does not post again.
    openrouter.enqueue({ text: ['Again'] });
    await discord.runCommand({ user: discord.users.alice, channelId: discord.channels.general.id, name: 'ask', options: { prompt: 'again' } });
    await waitFor(() => discord.botMessages(discord.channels.general.id).some((m) => m.content.includes('Again') && m.content.includes('openai/gpt-4o-mini')), 'the second answer');
    expect(alerts()).toHaveLength(1);
    expect(alert.content).not.toContain(KEY);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    bot.child.kill('SIGTERM');
    expect(await bot.exited).toBe(0);
  });
});
