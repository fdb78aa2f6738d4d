/**
 * The reasoning display `spoiler` on each platform: the model's reasoning
 * stays under the answer, collapsed the platform's way (Discord spoiler,
 * Slack context block, dimmed terminal text); `status` and `hidden` leave
 * nothing of it in the finished answer.
 */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startConsoleChat } from '../../src/platforms/console/console-chat.ts';
import { THINKING_REFRESH_MS } from '../../src/core/thinking-status.ts';
import { createFakeClock } from '../fakes/fake-clock.ts';
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

/** What a terminal would show after these writes: `\r` returns, ESC[2K erases the line, other ANSI codes draw nothing. */
function screen(writes: readonly string[]): string {
  const lines: string[] = [''];
  // eslint-disable-next-line no-control-regex -- ANSI escapes are what this reads
  for (const token of writes.join('').split(/(\r|\n|\x1b\[2K|\x1b\[[0-9;]*m)/)) {
    if (token === '\r' || token === '\x1b[2K') {
      if (token === '\x1b[2K') lines[lines.length - 1] = '';
    } else if (token === '\n') lines.push('');
    else if (!token.startsWith('\x1b')) lines[lines.length - 1] += token;
  }
  return lines.join('\n');
}

describe('reasoning display: status in the terminal', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** One question; `during` runs once the first status is out (the model is thinking), before the rest of the reasoning. */
  async function chat(color: boolean, fixture: object, during?: (writes: string[]) => Promise<void>): Promise<string[]> {
    const clock = createFakeClock(Date.now());
    app = await startTestApp({ clock });
    let release!: () => void;
    const thinking = new Promise<void>((resolve) => (release = resolve));
    app.openrouter.enqueue({ ...fixture, ...(during ? { reasoningWaitsFor: thinking } : {}) });
    const writes: string[] = [];
    const input = new PassThrough();
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk.toString());
        callback();
      },
    });
    const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' }, color });
    input.write('2+2?\n');
    input.end();
    if (during) {
      await waitFor(() => writes.some((w) => w.includes('💭 thinking…')));
      await during(writes);
      // Three refreshes of the thinking line: 3 s, 6 s and 9 s.
      for (let i = 0; i < 3; i++) await clock.advance(THINKING_REFRESH_MS);
      release();
    }
    await session.done;
    return writes;
  }

  it('a TTY shows one live thinking line, rewritten in place and erased when the answer starts', async () => {
    const writes = await chat(true, { reasoning: ['Two and two ', 'make four.'], text: ['**4**'] }, async () => undefined);
    const statusWrites = writes.filter((w) => w.startsWith('\r\x1b[2K') && w.includes('💭 thinking…'));
    // The first line and its refreshes, each over the last.
    expect(statusWrites.length).toBeGreaterThanOrEqual(3);
    expect(statusWrites.some((w) => w.includes('💭 thinking… 9s'))).toBe(true);
    expect(writes.some((w) => w.includes('💭 thinking…\n') || /💭 thinking…[^\n]*\n/.test(w))).toBe(false);
    const shown = screen(writes);
    expect(shown).not.toContain('thinking');
    expect(shown).toMatch(/^\*\*4\*\*\n— openai\/gpt-4o-mini · /);
  });

  it('piped output prints a status once per kind, not once per second', async () => {
    const writes = await chat(false, { reasoning: ['Two and two ', 'make four.'], text: ['**4**'] }, async () => undefined);
    const out = writes.join('');
    expect(out).not.toContain('\x1b');
    expect(out.match(/💭 thinking…/g)).toHaveLength(1);
    expect(out).toMatch(/💭 thinking…[^\n]*\n\*\*4\*\*\n— openai/);
  });
});
