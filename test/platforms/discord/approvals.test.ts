/**
 * Allow / Deny through the real discord.js: a destructive MCP tool posts its
 * question with buttons under the answer; only the asker's press counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buttonIds } from '../../fakes/discord.ts';
import { FAKE_STDIO, mcpServersFile } from '../../helpers/mcp.ts';
import { botMessagesSince, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ env: { MCP_SERVERS: mcpServersFile([FAKE_STDIO]), DEFAULT_TOOLS: 'fake.*' } });
});
afterAll(async () => {
  await h?.close();
});

describe('Discord: tools that ask first', () => {
  it('shows Allow and Deny; a press by someone else is refused privately; the asker’s Allow runs the tool', async () => {
    const { alice, carol } = h.fake.users;
    const general = h.fake.channels.general.id;
    h.app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'fake__delete_everything', arguments: '{"what":"@everyone"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['Cleaned up.'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    const before = botMessagesSince(h.fake, general).at(-1)?.id ?? '0';
    await h.fake.runCommand({ user: alice, channelId: general, name: 'ask', options: { prompt: 'clean up' } });
    const question = await waitFor(
      () => botMessagesSince(h.fake, general, before).find((m) => m.content.includes('wants to run') && buttonIds(m).length > 0),
      'the approval question',
      10_000,
    );
    // The model's arguments are shown, never as a mention.
    expect(question.content).toContain('`fake.delete_everything`');
    expect(question.content).not.toContain('@everyone');
    const [allow, deny] = buttonIds(question);
    expect(allow).toMatch(/^sb:allow:/);
    expect(deny).toMatch(/^sb:deny:/);

    const refused = await h.fake.clickButton({ user: carol, messageId: question.id, customId: allow! });
    expect(refused.ephemeral).toBe(true);
    expect(h.fake.ephemeralFor(carol.id).at(-1)?.content).toBe('Only the person who asked can allow or deny this tool call.');

    await h.fake.clickButton({ user: alice, messageId: question.id, customId: allow! });
    await h.adapter.idle();
    await waitFor(() => h.app.openrouter.chatRequests().length >= 2, 'the second round');
    const toolMessage = h.app.openrouter.chatRequests()[1]!.body!.messages.find((m) => m.role === 'tool');
    expect(toolMessage?.content).toBe('deleted @everyone (not really)');
    const updated = h.fake.message(question.id)!;
    expect(updated.content).toContain('✅ `fake.delete_everything` allowed by Alice.');
    expect(buttonIds(updated)).toEqual([]);
    expect(h.fake.violations).toEqual([]);
  });
});
