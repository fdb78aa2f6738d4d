/** Web search on Discord: numbered sources under the answer, links in <…> so no embeds unfold. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEARCHING_STATUS } from '../../../src/core/pipeline.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { DEFAULT_TOOLS: 'web_search' } });
});
afterAll(async () => {
  await h?.close();
});

describe('web search on Discord', () => {
  it('lists numbered sources with <url> (no embeds) under the final message, after a searching status', async () => {
    h.app.openrouter.enqueue({
      text: ['Rust is fast [1] ', 'and safe [2].'],
      citations: [
        { url: 'https://example.com/fast', title: 'Fast *Rust*', start_index: 13 },
        { url: 'https://example.org/safe', title: 'Safe', start_index: 26 },
        { url: 'https://example.com/fast', title: 'Fast *Rust*', start_index: 30 },
      ],
      firstTokenDelayMs: 100,
    });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'ask', options: { prompt: 'rust?' } });
    await h.adapter.idle();
    const [message] = h.fake.interactionMessages(interaction);
    expect(message!.content).toContain('Rust is fast [1] and safe [2].\n\nSources:\n[1] Fast \\*Rust\\* <https://example.com/fast>\n[2] Safe <https://example.org/safe>\n\n');
    // Every link is wrapped, so Discord unfolds no embed.
    expect(message!.content.match(/https:\/\/\S+/g)!.every((url) => url.endsWith('>'))).toBe(true);
    expect(message!.content.match(/<https:/g)).toHaveLength(2);
    expect(message!.history.some((version) => version.includes(SEARCHING_STATUS))).toBe(true);
    expect(message!.content).not.toContain(SEARCHING_STATUS);
  });
});
