/**
 * While a tool runs, every platform says which: the status line "🔧
 * calculator…" on Discord (an edit of the answer) and on Slack (the Stop
 * message beside the stream), Slack's assistant thread status "is using
 * calculator…" (cleared at the end), and a dim line in the terminal.
 */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startConsoleChat } from '../../../src/platforms/console/console-chat.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
import { startHarness as startDiscord, type Harness as DiscordHarness } from '../discord/harness.ts';
import { ALICE, CHANNEL, startHarness as startSlack, type Harness as SlackHarness } from '../slack/harness.ts';

const TOOLS = { DEFAULT_TOOLS: 'calculator' };
const toolRound = { toolCalls: [{ id: 'call_1', name: 'calculator', arguments: '{"expression":"17*23"}' }], firstTokenDelayMs: 0 };
// The answer after the tool comes late enough for the status to be shown on every platform.
const answerRound = { text: ['17 × 23 = ', '391.'], firstTokenDelayMs: 800 };

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('tool progress', () => {
  it('Discord: the answer shows "🔧 calculator…" while the tool runs, and not once the text is there', async () => {
    const h: DiscordHarness = await startDiscord({ env: TOOLS });
    close = () => h.close();
    h.app.openrouter.enqueue(toolRound, answerRound);
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'ask', options: { prompt: '17*23?' } });
    await h.adapter.idle();
    const [message] = h.fake.interactionMessages(interaction);
    expect(message!.history.some((version) => version.includes('🔧 calculator…'))).toBe(true);
    expect(message!.content).toContain('17 × 23 = 391.');
    expect(message!.content).not.toContain('🔧');
  });

  it('Slack: the Stop message shows "🔧 calculator…" and the thread status says "is using calculator…", cleared at the end', async () => {
    const h: SlackHarness = await startSlack({ env: TOOLS });
    close = () => h.close();
    h.app.openrouter.enqueue(toolRound, answerRound);
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> 17*23?' });
    await h.adapter.idle();
    expect(h.fake.statuses.map((s) => s.status)).toEqual(['is thinking…', 'is using calculator…', 'is thinking…', '']);
    expect(h.fake.statuses.every((s) => s.channel === CHANNEL && s.threadTs === mention.ts)).toBe(true);
    const controlTexts = h.fake
      .callsOf('chat.update')
      .flatMap((call) => (call.args.blocks as Array<{ block_id?: string; elements?: Array<{ text?: string }> }> | undefined) ?? [])
      .filter((block) => block.block_id === 'switchboard_control')
      .flatMap((block) => (block.elements ?? []).map((e) => e.text ?? ''));
    expect(controlTexts).toContain('🔧 calculator…');
    const answer = h.fake.botMessages(CHANNEL, mention.ts).find((m) => m.origin === 'stream');
    expect(answer?.text).toBe('17 × 23 = 391.');
    expect(h.fake.violations).toEqual([]);
  });

  it('terminal: a dim line "🔧 calculator…" before the answer text, and one mid-answer', async () => {
    const app: TestApp = await startTestApp({ env: TOOLS });
    close = () => app.close();
    app.openrouter.enqueue(toolRound, { ...toolRound, text: ['Let me check. '] }, answerRound);
    const input = new PassThrough();
    const writes: string[] = [];
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk.toString());
        callback();
      },
    });
    const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' } });
    input.write('17*23?\n');
    input.end();
    await session.done;
    const out = writes.join('');
    expect(out).toMatch(/^🔧 calculator…\n/);
    expect(out).toContain('Let me check. \n🔧 calculator…\n17 × 23 = 391.');
  });
});
