import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { McpServer } from '../../src/tools/mcp/mcp-server.ts';
import { parseMcpServers } from '../../src/tools/mcp/mcp-config.ts';
import { startMcpServers } from '../../src/tools/mcp/mcp-servers.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import type { ToolContext } from '../../src/tools/types.ts';
import { createFakeClock, type FakeClock } from '../fakes/fake-clock.ts';
import { startFakeMcpHttp, type FakeMcpHttp } from '../fakes/mcp-server.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { captureLogger, collect, doneOf, hello, makeHarness } from '../llm/helpers.ts';

const STDIO = { name: 'fake', command: process.execPath, args: ['--import', 'tsx', 'test/fakes/mcp-server.ts'] };

function toolContext(signal = new AbortController().signal): ToolContext {
  return { requestId: 'r', platform: 'discord', workspaceId: 'g', channelId: 'c', userId: 'u', catalog: undefined as never, now: () => new Date(0), signal };
}

let openrouter: FakeOpenRouter;
let http: FakeMcpHttp;
let clock: FakeClock;
let registry: ToolRegistry;
const open: McpServer[] = [];

beforeAll(async () => {
  openrouter = await startFakeOpenRouter();
});
afterAll(async () => {
  await openrouter.close();
});
beforeEach(async () => {
  openrouter.reset();
  http = await startFakeMcpHttp();
  clock = createFakeClock(1_000_000);
  registry = new ToolRegistry(5_000);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await http.close();
});

function connect(config: Parameters<typeof parseMcpServers>[0] extends string ? ReturnType<typeof parseMcpServers>[number] : never, resultMaxChars = 20_000): McpServer {
  const server = new McpServer(config, { registry, clock, logger: captureLogger().logger, resultMaxChars, backoffMs: [1_000, 2_000] });
  open.push(server);
  return server;
}

describe('MCP servers as tools', () => {
  it('lists a stdio server’s tools as <server>.<tool> with wire-safe names, and runs them through the model', async () => {
    const server = connect(STDIO);
    await server.start();
    expect(server.connected).toBe(true);
    expect(registry.list().map((t) => t.name)).toEqual(['fake.big', 'fake.crash', 'fake.delete_everything', 'fake.echo', 'fake.slow']);
    expect(registry.get('fake.delete_everything')?.destructive).toBe(true);
    expect(registry.get('fake.echo')?.destructive).toBeUndefined();
    expect(registry.groups()).toEqual([{ name: 'fake', state: { state: 'connected' }, tools: 5 }]);

    // The model sees fake__echo (a dot is not allowed in function names) and calls it by that name.
    const { service, context } = makeHarness(openrouter, { registry });
    openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'fake__echo', arguments: '{"text":"hi"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['It said hi.'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    const events = await collect(service.chat(hello, { context, tools: ['fake.echo'] }));
    expect(doneOf(events).text).toBe('It said hi.');
    const [first, second] = openrouter.chatRequests();
    const sent = (first!.body!.tools as Array<{ function: { name: string; parameters: unknown } }>).map((t) => t.function);
    expect(sent).toEqual([expect.objectContaining({ name: 'fake__echo', parameters: expect.objectContaining({ required: ['text'] }) })]);
    expect(second!.body!.messages).toContainEqual({ role: 'tool', tool_call_id: 'call_1', content: 'echo: hi' });
  });

  it('offers every tool of a server for `<server>.*`', async () => {
    await connect(STDIO).start();
    expect(registry.specs(['fake.*']).map((s) => s.name)).toEqual(['fake__big', 'fake__crash', 'fake__delete_everything', 'fake__echo', 'fake__slow']);
    expect(registry.specs(['other.*', 'fake.echo'])).toHaveLength(1);
  });

  it('a stdio server that crashes mid-call: a clear tool error, a reconnect after the backoff, and the next call works', async () => {
    const server = connect(STDIO);
    await server.start();
    const crash = registry.get('fake.crash')!;
    await expect(Promise.resolve(crash.execute({}, toolContext()))).rejects.toThrow(/tool server "fake" failed during the call/);
    await vi.waitFor(() => expect(registry.groups()[0]?.state.state).toBe('failing'), { timeout: 10_000 });
    expect(registry.groups()[0]?.state).toMatchObject({ reason: expect.stringMatching(/connection closed/) });
    // Until it is back, calls say so instead of hanging.
    await expect(Promise.resolve(registry.get('fake.echo')!.execute({ text: 'x' }, toolContext()))).rejects.toThrow(/not connected .*reconnects on its own/);
    await clock.advance(1_000);
    await vi.waitFor(() => expect(server.connected).toBe(true), { timeout: 15_000 });
    expect(await registry.get('fake.echo')!.execute({ text: 'again' }, toolContext())).toBe('echo: again');
  });

  it('Streamable HTTP: headers are sent, a crash mid-call is a tool error, and it reconnects once the server is back', async () => {
    const server = connect({ name: 'web', url: http.url, headers: { 'x-team': 'blue' } });
    await server.start();
    expect(http.behaviour.headers!.some((h) => h['x-team'] === 'blue')).toBe(true);
    expect(await registry.get('web.echo')!.execute({ text: 'hello' }, toolContext())).toBe('echo: hello');

    const call = Promise.resolve(registry.get('web.slow')!.execute({}, toolContext()));
    await vi.waitFor(() => expect(http.behaviour.calls.map((c) => c.name)).toContain('slow'));
    http.crash();
    await expect(call).rejects.toThrow(/tool server "web" failed during the call/);
    // A stateless HTTP connection notices the loss on the next call; it fails clearly while the server is down.
    await expect(Promise.resolve(registry.get('web.echo')!.execute({ text: 'x' }, toolContext()))).rejects.toThrow(/web/);
    expect(registry.groups()[0]?.state).toMatchObject({ state: 'failing', reason: expect.stringMatching(/^the last call failed: /) });
    await http.restart();
    expect(await registry.get('web.echo')!.execute({ text: 'back' }, toolContext())).toBe('echo: back');
    expect(registry.groups()[0]?.state).toEqual({ state: 'connected' });
  });

  it('an unreachable server shows as failing with the reason and keeps retrying with backoff', async () => {
    await http.close();
    const server = connect({ name: 'down', url: http.url, headers: {} });
    await server.start();
    expect(server.connected).toBe(false);
    expect(registry.groups()).toEqual([{ name: 'down', state: { state: 'failing', reason: expect.stringMatching(/fetch failed|ECONNREFUSED/) }, tools: 0 }]);
    http = await startFakeMcpHttp();
    const again = new McpServer({ name: 'down', url: http.url, headers: {} }, { registry, clock, logger: captureLogger().logger, resultMaxChars: 100, backoffMs: [1_000] });
    open.push(again);
    await again.start();
    expect(again.connected).toBe(true);
    expect(clock.pendingTimers()).toBeGreaterThan(0); // the first one is still waiting to retry
  });

  it('caps a long result before it reaches the model, and a server error result is a tool error', async () => {
    const server = connect(STDIO, 1_000);
    await server.start();
    const text = (await registry.get('fake.big')!.execute({ chars: 50_000 }, toolContext())) as string;
    expect(text.length).toBeLessThan(1_100);
    expect(text).toMatch(/result cut: 49,000 more characters/);
  });

  it('closes every server on shutdown (the stdio child exits)', async () => {
    const servers = await startMcpServers([STDIO], { registry, clock, logger: captureLogger().logger, resultMaxChars: 100 });
    expect(servers.servers[0]!.connected).toBe(true);
    await servers.close();
    expect(registry.groups()[0]?.state).toEqual({ state: 'closed' });
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('MCP_SERVERS file', () => {
  it('accepts stdio and HTTP servers', () => {
    expect(parseMcpServers('{"servers":[{"name":"dice","command":"node","args":["x.mjs"]},{"name":"docs","url":"https://mcp.example/mcp","headers":{"Authorization":"Bearer t"}}]}', 'f.json')).toEqual([
      { name: 'dice', command: 'node', args: ['x.mjs'] },
      { name: 'docs', url: 'https://mcp.example/mcp', headers: { Authorization: 'Bearer t' } },
    ]);
  });

  it.each([
    ['{"servers":[{"name":"a","url":"ftp://x"}]}', 'servers[0].url: must be an http:// or https:// URL'],
    ['{"servers":[{"name":"9lives","command":"x"}]}', 'servers[0].name: must start with a letter'],
    ['{"servers":[{"name":"a"}]}', 'servers[0]: each server needs a name and either "command" (stdio) or "url"'],
    ['{"servers":[{"name":"a","command":"x"},{"name":"a","command":"y"}]}', 'servers[1].name: "a" is listed twice'],
    ['{"server":[]}', 'servers: '],
    ['{nope', 'is not valid JSON'],
  ])('names the bad field: %s', (text, message) => {
    expect(() => parseMcpServers(text, 'mcp.json')).toThrow(message);
  });
});

describe('wire names', () => {
  it('map <server>.<tool> to a safe unique name and back, never taking a plain tool’s name', () => {
    const reg = new ToolRegistry();
    const tool = (name: string) => ({ name, description: name, input: undefined as never, parameters: { type: 'object' }, execute: () => name });
    reg.setGroup('a', [tool('a.b'), tool('a.' + 'x'.repeat(100)), tool('a.c.d')]);
    reg.register({ ...tool('a__b'), input: undefined as never });
    const wires = reg.specs(['a.*', 'a__b']).map((s) => s.name);
    expect(new Set(wires).size).toBe(4);
    for (const w of wires) expect(w).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(reg.wireName('a__b')).toBe('a__b');
    expect(reg.get(reg.wireName('a.b')!)?.name).toBe('a.b');
    expect(reg.get(reg.wireName('a.c.d')!)?.name).toBe('a.c.d');
  });
});

describe('the shipped example', () => {
  it('examples/mcp-servers.json is valid and its dice server answers', async () => {
    const { readFileSync } = await import('node:fs');
    const [dice] = parseMcpServers(readFileSync('examples/mcp-servers.json', 'utf8'), 'examples/mcp-servers.json');
    const reg = new ToolRegistry();
    const server = new McpServer({ ...dice!, command: process.execPath }, { registry: reg, clock: createFakeClock(), logger: captureLogger().logger, resultMaxChars: 1000 });
    try {
      await server.start();
      expect(reg.list().map((t) => t.name)).toEqual(['dice.flip', 'dice.roll']);
      const result = JSON.parse((await reg.get('dice.roll')!.execute({ count: 3, sides: 6 }, toolContext())) as string) as { rolls: number[] };
      expect(result.rolls).toHaveLength(3);
      await expect(Promise.resolve(reg.get('dice.roll')!.execute({ count: 99, sides: 6 }, toolContext()))).rejects.toThrow('count must be 1-20');
    } finally {
      await server.close();
    }
  });
});

describe('MCP tools in the tool loop', () => {
  it('a slow MCP tool gets the registry’s timeout (on the clock) and a clear error; the server keeps working', async () => {
    const { runToolCall } = await import('../../src/llm/tool-runner.ts');
    const reg = new ToolRegistry(3_000);
    const fakeClock = createFakeClock(0);
    const server = new McpServer(STDIO, { registry: reg, clock: fakeClock, logger: captureLogger().logger, resultMaxChars: 1000 });
    try {
      await server.start();
      const deps = { registry: reg, context: toolContext(), signal: new AbortController().signal, clock: fakeClock, logger: captureLogger().logger, offered: new Set(['fake__slow', 'fake__echo']) };
      const slow = runToolCall({ id: 'c1', name: 'fake__slow', arguments: '{}' }, deps);
      await fakeClock.advance(3_000);
      expect(await slow).toMatchObject({ isError: true, content: JSON.stringify({ error: 'the tool timed out after 3000 ms' }) });
      expect(await runToolCall({ id: 'c2', name: 'fake__echo', arguments: '{"text":"still here"}' }, deps)).toMatchObject({ isError: false, content: 'echo: still here' });
    } finally {
      await server.close();
    }
  });
});
