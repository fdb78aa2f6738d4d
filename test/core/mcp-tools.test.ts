import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { FAKE_STDIO, mcpServersFile } from '../helpers/mcp.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };


describe('MCP tools through the app', () => {
  let app: TestApp;
  let h: Harness;
  beforeEach(async () => {
    app = await startTestApp({
      env: { MCP_SERVERS: mcpServersFile([FAKE_STDIO, { name: 'gone', url: 'http://127.0.0.1:9/mcp' }]), DEFAULT_TOOLS: '' },
    });
    h = createHarness(app.core);
  });
  afterEach(async () => {
    await app.close();
  });

  const lastBody = () => app.openrouter.chatRequests().at(-1)!.body!;

  it('lists each server with its state, enables a server’s tools per channel, and answers with one through the model', async () => {
    await h.run(ada, 'tools', 'list', {});
    const list = h.lastReply();
    expect(list).toContain('**MCP server `fake`**: 🟢 connected, 5 tools');
    expect(list).toMatch(/\*\*MCP server `gone`\*\*: 🔴 failing: .+ \(retrying on its own\), 0 tools/);
    expect(list).toContain('▫️ `fake.echo`: Echo the text back');
    expect(list).toContain('▫️ `fake.delete_everything` _(asks first)_');

    // Not enabled: not offered.
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().tools).toBeUndefined();

    await h.run(ada, 'tools', 'enable', { tool: 'fake.*' });
    expect(h.lastReply()).toContain('Only admins');
    await h.run(admin, 'tools', 'enable', { tool: 'fake.*' });
    expect(h.lastReply()).toContain('`fake.*` is enabled in this channel');
    await h.run(admin, 'tools', 'enable', { tool: 'nope.*' });
    expect(h.lastReply()).toContain('There is no tool `nope.*`');

    app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'fake__echo', arguments: '{"text":"over the wire"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['The server said: echo: over the wire'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    await h.run(ada, 'ask', undefined, { prompt: 'echo something' });
    const [, first, second] = app.openrouter.chatRequests();
    expect(first!.body!.tools!.map((t) => t.function!.name)).toEqual(['fake__big', 'fake__crash', 'fake__delete_everything', 'fake__echo', 'fake__slow']);
    expect(second!.body!.messages).toContainEqual({ role: 'tool', tool_call_id: 'call_1', content: 'echo: over the wire' });
    expect(h.surfaces.at(-1)!.texts().join('\n')).toContain('The server said: echo: over the wire');

    // Another channel has nothing enabled.
    await h.run(ada, 'ask', undefined, { prompt: 'hi' }, { channelId: 'c2' });
    expect(lastBody().tools).toBeUndefined();

    // Disabling one tool of an enabled server keeps the others.
    await h.run(admin, 'tools', 'disable', { tool: 'fake.crash' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastBody().tools!.map((t) => t.function!.name)).not.toContain('fake__crash');
    expect(lastBody().tools!.map((t) => t.function!.name)).toContain('fake__echo');
  });

  it('/tools help explains adding a server', async () => {
    await h.run(ada, 'tools', 'help', {});
    expect(h.lastReply()).toContain('MCP_SERVERS');
    expect(h.lastReply()).toContain('<server>.<tool>');
  });
});

describe('MCP_SERVERS at start', () => {
  it('a bad file stops the start with a message naming the field', async () => {
    await expect(startTestApp({ env: { MCP_SERVERS: mcpServersFile([{ name: 'x', url: 'nope' }]) } })).rejects.toThrow(/servers\[0\]\.url/);
  });
});
