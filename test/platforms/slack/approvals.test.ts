/**
 * Allow / Deny through the real Bolt: a destructive MCP tool posts its question
 * with buttons; another user's press is refused privately, the asker's Deny
 * tells the model, and nothing in the question pings anyone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FAKE_STDIO, mcpServersFile } from '../../helpers/mcp.ts';
import { ALICE, BOB, CHANNEL, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Block = { type: string; elements?: Array<Record<string, unknown>> };
const buttons = (message: { blocks?: Block[] }) => (message.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []);

describe('Slack: tools that ask first', () => {
  it('the asker denies through the buttons; someone else cannot decide', async () => {
    h = await startHarness({ env: { MCP_SERVERS: mcpServersFile([FAKE_STDIO]), DEFAULT_TOOLS: 'fake.*' } });
    h.app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'fake__delete_everything', arguments: '{"what":"<!channel>"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['I did not delete anything.'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    await h.fake.slashCommand({ command: '/ask', text: 'clean up', user: ALICE, channel: CHANNEL });
    const question = await waitFor(() => h!.fake.botMessages(CHANNEL).find((m) => h!.fake.visibleText(m).includes('wants to run')), 10_000, 'the question');
    expect(h.fake.visibleText(question)).not.toContain('<!channel>');
    const [allow, deny] = buttons(question);
    expect(allow).toMatchObject({ action_id: 'switchboard_allow', style: 'primary' });
    expect(deny).toMatchObject({ action_id: 'switchboard_deny', style: 'danger' });
    const requestId = String(allow!.value);

    await h.fake.clickButton({ user: BOB, channel: CHANNEL, messageTs: question.ts, actionId: 'switchboard_allow', value: requestId });
    await waitFor(() => h!.fake.ephemerals.find((e) => e.text.includes('Only the person who asked can allow or deny')), 3000, 'the refusal');
    expect(h.app.core.approvals.waiting()).toHaveLength(1);

    await h.fake.clickButton({ user: ALICE, channel: CHANNEL, messageTs: question.ts, actionId: 'switchboard_deny', value: requestId });
    await h.adapter.idle();
    await waitFor(() => h!.app.openrouter.chatRequests().length >= 2, 5000, 'the second round');
    const tool = h.app.openrouter.chatRequests()[1]!.body!.messages.find((m) => m.role === 'tool');
    expect(tool?.content).toContain('The user denied running fake.delete_everything');
    await waitFor(() => h!.fake.visibleText(h!.fake.botMessages(CHANNEL).find((m) => m.ts === question.ts)!).includes('denied by Alice'), 5000, 'the updated question');
    expect(buttons(h.fake.botMessages(CHANNEL).find((m) => m.ts === question.ts)!)).toEqual([]);
    expect(h.fake.violations).toEqual([]);
  });
});
