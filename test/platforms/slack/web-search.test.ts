/** Web search on Slack: numbered sources as links in a context block, on /ask (blocks) and on a mention (native stream). */
import { afterEach, describe, expect, it } from 'vitest';
import { SEARCHING_STATUS } from '../../../src/core/pipeline.ts';
import type { FakeMessage } from '../../fakes/slack.ts';
import { ALICE, CHANNEL, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const citations = [
  { url: 'https://example.com/a', title: 'A & <b> | c', start_index: 2 },
  { url: 'https://example.org/b', title: 'Second <!channel>', start_index: 9 },
  { url: 'https://example.com/a', title: 'A again', start_index: 12 },
];

function sourcesBlock(message: FakeMessage): string | undefined {
  const block = message.blocks?.find((b) => b.block_id === 'switchboard_sources');
  if (!block) return undefined;
  expect(block.type).toBe('context');
  return (block.elements as Array<{ text: string }>)[0]!.text;
}

const EXPECTED = '*Sources*\n[1] <https://example.com/a|A &amp; &lt;b&gt; ¦ c>\n[2] <https://example.org/b|Second @\u2060channel>';

describe('web search on Slack', () => {
  it('/ask shows the numbered sources as links in a context block above the footer', async () => {
    h = await startHarness({ env: { DEFAULT_TOOLS: 'web_search' } });
    h.app.openrouter.enqueue({ text: ['It [1] is ', '[2] so.'], citations });
    await h.fake.slashCommand({ command: '/ask', text: 'search', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    const answer = h.fake.botMessages(CHANNEL).at(-1)!;
    expect(sourcesBlock(answer)).toBe(EXPECTED);
    const ids = answer.blocks!.map((b) => b.block_id ?? b.type);
    expect(ids.indexOf('switchboard_sources')).toBeLessThan(ids.lastIndexOf('context'));
    expect(h.fake.violations).toEqual([]);
  });

  it('a mention (native stream) ends with the sources block on chat.stopStream', async () => {
    h = await startHarness({ env: { DEFAULT_TOOLS: 'web_search' } });
    h.app.openrouter.enqueue({ text: ['It [1] is ', '[2] so.'], citations });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> search' });
    const harness = h;
    const answer = await waitFor(
      () => harness.fake.botMessages(CHANNEL, mention.ts).find((m) => m.origin === 'stream' && !m.streaming),
      5000,
      'the finished stream',
    );
    await h.adapter.idle();
    expect(answer.text).toBe('It [1] is [2] so.');
    expect(sourcesBlock(answer)).toBe(EXPECTED);
    expect(h.fake.violations).toEqual([]);
  });

  it('a mention shows "🔎 searching…" on its thinking/Stop message until the first text', async () => {
    h = await startHarness({ env: { DEFAULT_TOOLS: 'web_search' } });
    h.app.openrouter.enqueue({ text: ['Found.'], firstTokenDelayMs: 200 });
    await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> search' });
    const harness = h;
    await waitFor(() => harness.fake.callsOf('chat.stopStream').length > 0, 5000, 'the finished stream');
    await h.adapter.idle();
    const updates = h.fake.callsOf('chat.update').map((c) => String(c.args.text));
    expect(updates[0]).toBe(SEARCHING_STATUS);
    expect(h.fake.violations).toEqual([]);
  });
});
