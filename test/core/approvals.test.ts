/**
 * Tools that ask first: a destructive MCP tool (or one listed by /tools
 * confirm) runs only after the asker presses Allow; Deny, or no press within
 * 2 minutes (a fake clock), tells the model it was refused.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { APPROVAL_TIMEOUT_MS } from '../../src/core/approvals.ts';
import type { InboundPort } from '../../src/core/inbound.ts';
import { systemClock, type Clock } from '../../src/core/types.ts';
import { createFakeClock, type FakeClock } from '../fakes/fake-clock.ts';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { FAKE_STDIO, mcpServersFile } from '../helpers/mcp.ts';

const ada = { id: 'u1', name: 'Ada' };
const bob = { id: 'u2', name: 'Bob' };
const admin = { id: 'u9', name: 'Grace', admin: true };

describe('tools that ask first', () => {
  let app: TestApp;
  let h: Harness;
  let long: FakeClock;
  let said: string[];

  beforeEach(async () => {
    // Real time for everything short; the 2-minute wait runs on a fake clock the test advances.
    long = createFakeClock(Date.now());
    const clock: Clock = { now: () => systemClock.now(), sleep: (ms, signal) => (ms >= APPROVAL_TIMEOUT_MS ? long.sleep(ms, signal) : systemClock.sleep(ms, signal)) };
    app = await startTestApp({ clock, env: { MCP_SERVERS: mcpServersFile([FAKE_STDIO]), DEFAULT_TOOLS: '' } });
    h = createHarness(app.core);
    said = [];
    await h.run(admin, 'tools', 'enable', { tool: 'fake.*' });
  });
  afterEach(async () => {
    await app.close();
  });

  const port: InboundPort = { reply: async (text) => void said.push(text), isPlatformAdmin: async () => false };
  const press = (user: { id: string; name: string }, action: 'allow' | 'deny', requestId: string) =>
    app.core.inbound.handle({ kind: 'action', action, requestId, place: { platform: 'test', workspaceId: 'w1', channelId: 'c1' }, user, port });

  async function askAndWait(tool: string, args: string): Promise<{ asking: Promise<void>; requestId: string }> {
    app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: tool, arguments: args }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['Done.'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    const asking = h.run(ada, 'ask', undefined, { prompt: 'clean up' });
    const waiting = await vi.waitFor(() => {
      const [first] = app.core.approvals.waiting();
      if (!first) throw new Error('not waiting yet');
      return first;
    });
    return { asking, requestId: waiting.requestId };
  }

  const toolResult = () => app.openrouter.chatRequests().at(-1)!.body!.messages.find((m) => m.role === 'tool')?.content;
  const approvalMessage = () => h.surfaces.at(-1)!.messages().find((m) => m.history.some((t) => t.includes('wants to run')))!;

  it('granted: the asker presses Allow (someone else’s press does not count) and the tool runs', async () => {
    const { asking, requestId } = await askAndWait('fake__delete_everything', '{"what":"the logs"}');
    const question = approvalMessage();
    expect(question.history[0]).toContain('⚠️ The answer wants to run `fake.delete_everything` with `{"what":"the logs"}`. Ada, allow it?');
    expect(question.actions.map((a) => a.id)).toEqual(['allow', 'deny']);

    await press(bob, 'allow', requestId);
    expect(said.at(-1)).toBe('Only the person who asked can allow or deny this tool call.');
    expect(app.core.approvals.waiting()).toHaveLength(1);

    await press(ada, 'allow', requestId);
    await asking;
    expect(toolResult()).toBe('deleted the logs (not really)');
    expect(approvalMessage().text).toContain('✅ `fake.delete_everything` allowed by Ada.');
    expect(approvalMessage().actions).toEqual([]);
    await press(ada, 'allow', requestId);
    expect(said.at(-1)).toBe('This tool call is no longer waiting for an answer.');
  });

  it('denied: the model is told, and the tool never runs', async () => {
    const { asking, requestId } = await askAndWait('fake__delete_everything', '{}');
    await press(ada, 'deny', requestId);
    await asking;
    expect(toolResult()).toContain('The user denied running fake.delete_everything; it did not run.');
    expect(approvalMessage().text).toContain('❌ `fake.delete_everything` denied by Ada; it did not run.');
  });

  it('timed out: no press within 2 minutes counts as refused', async () => {
    const { asking } = await askAndWait('fake__delete_everything', '{}');
    await long.advance(APPROVAL_TIMEOUT_MS - 1);
    expect(app.core.approvals.waiting()).toHaveLength(1);
    await long.advance(1);
    await asking;
    expect(toolResult()).toContain('Nobody allowed running fake.delete_everything within 2 minutes, so it did not run.');
    expect(approvalMessage().text).toContain('⌛');
  });

  it('/tools confirm makes any tool ask first in that channel; off stops it', async () => {
    await h.run(admin, 'tools', 'confirm', { tool: 'fake.echo', ask: 'on' });
    expect(h.lastReply()).toContain('`fake.echo` now runs only after the asker presses Allow in this channel.');
    const { asking, requestId } = await askAndWait('fake__echo', '{"text":"hi"}');
    await press(ada, 'allow', requestId);
    await asking;
    expect(toolResult()).toBe('echo: hi');

    await h.run(admin, 'tools', 'confirm', { tool: 'fake.echo', ask: 'off' });
    await h.run(admin, 'tools', 'confirm', { tool: 'fake.delete_everything', ask: 'off' });
    expect(h.lastReply()).toContain('Its server marks it destructive, so it still asks.');
    app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_2', name: 'fake__echo', arguments: '{"text":"again"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['Done.'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    await h.run(ada, 'ask', undefined, { prompt: 'echo' });
    expect(toolResult()).toBe('echo: again');
  });
});
