/**
 * The reasoning display `spoiler` on each platform: the model's reasoning
 * stays under the answer, collapsed the platform's way (Discord spoiler,
 * Slack context block, dimmed terminal text); `status` and `hidden` leave
 * nothing of it in the finished answer.
 */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startConsoleChat } from '../../src/platforms/console/console-chat.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { startHarness as startDiscord, type Harness as DiscordHarness } from './discord/harness.ts';
import { ALICE, CHANNEL, startHarness as startSlack, waitFor, type Harness as SlackHarness } from './slack/harness.ts';

const THINKING = { reasoning: ['Two and two ', 'make four.'], encryptedReasoning: 'opaque', text: ['**4**'] };

describe('reasoning display: spoiler', () => {
  let discord: DiscordHarness | undefined;
  let slack: SlackHarness | undefined;
  let app: TestApp | undefined;
  afterEach(async () => {
    await discord?.close();
    await slack?.close();
    await app?.close();
    discord = slack = app = undefined;
  });

  it('Discord: the reasoning is a ||spoiler|| between the answer and the footer', async () => {
    discord = await startDiscord();
    const { fake } = discord;
    const place = { platform: 'discord', workspaceId: fake.guildId, channelId: fake.channels.general.id };
    await discord.app.core.settings.set(place, 'server', 'reasoningDisplay', 'spoiler');
    discord.app.openrouter.enqueue(THINKING);
    const interaction = await fake.runCommand({ user: fake.users.alice, channelId: fake.channels.general.id, name: 'ask', options: { prompt: '2+2?' } });
    await discord.adapter.idle();
    const [message] = fake.interactionMessages(interaction);
    expect(message!.content).toMatch(/^\*\*4\*\*\n\n\|\|💭 Two and two make four\.\|\|\n\nopenai\/gpt-4o-mini · /);
    expect(fake.violations).toEqual([]);
  });

  it('Discord, status display: no reasoning left in the finished message', async () => {
    discord = await startDiscord();
    const { fake } = discord;
    discord.app.openrouter.enqueue(THINKING);
    const interaction = await fake.runCommand({ user: fake.users.alice, channelId: fake.channels.general.id, name: 'ask', options: { prompt: '2+2?' } });
    await discord.adapter.idle();
    const [message] = fake.interactionMessages(interaction);
    expect(message!.content).not.toContain('Two and two');
    expect(message!.content).not.toContain('thinking…');
  });

  it('Slack /ask: the reasoning is a context block above the footer', async () => {
    slack = await startSlack();
    const place = { platform: 'slack', workspaceId: slack.fake.teamId, channelId: CHANNEL };
    await slack.app.core.settings.set(place, 'server', 'reasoningDisplay', 'spoiler');
    slack.app.openrouter.enqueue(THINKING);
    await slack.fake.slashCommand({ command: '/ask', text: '2+2?', user: ALICE, channel: CHANNEL });
    await waitFor(() => slack!.fake.botMessages(CHANNEL)[0], 3000, 'the answer');
    await slack.adapter.idle();
    const [answer] = slack.fake.botMessages(CHANNEL);
    const contexts = (answer!.blocks ?? []).filter((b) => b.type === 'context').map((b) => JSON.stringify(b));
    const reasoning = contexts.findIndex((c) => c.includes('💭 Two and two make four.'));
    const footer = contexts.findIndex((c) => c.includes('openai/gpt-4o-mini · '));
    expect(reasoning).toBeGreaterThanOrEqual(0);
    expect(footer).toBeGreaterThan(reasoning);
    expect(slack.fake.violations).toEqual([]);
  });

  it('Slack mention (native stream): stopStream carries the reasoning context block', async () => {
    slack = await startSlack();
    const place = { platform: 'slack', workspaceId: slack.fake.teamId, channelId: CHANNEL };
    await slack.app.core.settings.set(place, 'server', 'reasoningDisplay', 'spoiler');
    slack.app.openrouter.enqueue(THINKING);
    await slack.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> 2+2?' });
    await waitFor(() => slack!.fake.callsOf('chat.stopStream')[0], 5000, 'the end of the stream');
    await slack.adapter.idle();
    const stop = slack.fake.callsOf('chat.stopStream').at(-1)!;
    expect(JSON.stringify(stop.args)).toContain('💭 Two and two make four.');
  });

  it('Slack mention (native stream), status display: the thinking line shows on the Stop message while the model thinks', async () => {
    slack = await startSlack();
    slack.app.openrouter.enqueue({ ...THINKING, reasoningDelayMs: 30 });
    await slack.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> 2+2?' });
    await waitFor(() => slack!.fake.callsOf('chat.stopStream')[0], 5000, 'the end of the stream');
    await slack.adapter.idle();
    const updates = slack.fake.callsOf('chat.update').map((c) => JSON.stringify(c.args));
    expect(updates.some((u) => /💭 thinking… \ds · Two and two/.test(u) && u.includes('switchboard_control'))).toBe(true);
    // The Stop message is gone at the end; the answer keeps no reasoning.
    const stop = slack.fake.callsOf('chat.stopStream').at(-1)!;
    expect(JSON.stringify(stop.args)).not.toContain('Two and two');
  });

  it('terminal: the reasoning is printed dimmed above the footer', async () => {
    app = await startTestApp();
    app.openrouter.enqueue(THINKING);
    const writes: string[] = [];
    const input = new PassThrough();
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk.toString());
        callback();
      },
    });
    const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' }, color: true });
    input.write('/model option reasoning-display spoiler\n');
    input.write('2+2?\n');
    input.end();
    await session.done;
    const out = writes.join('');
    expect(out).toContain('\x1b[2m💭 Two and two make four.\x1b[0m\n\x1b[2m— openai/gpt-4o-mini · ');
  });
});
