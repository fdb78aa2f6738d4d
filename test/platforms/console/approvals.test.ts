/** The terminal asks y/n before a tool that asks first. */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startConsoleChat } from '../../../src/platforms/console/console-chat.ts';
import { FAKE_STDIO, mcpServersFile } from '../../helpers/mcp.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';

describe('terminal: tools that ask first', () => {
  let app: TestApp;
  afterEach(async () => {
    await app.close();
  });

  it.each([
    ['y', 'deleted the logs (not really)', '✅ `fake.delete_everything` allowed by Ada.'],
    ['n', 'The user denied running fake.delete_everything', '❌ `fake.delete_everything` denied by Ada'],
  ])('answers %s to the question', async (key, toolResult, line) => {
    app = await startTestApp({ env: { MCP_SERVERS: mcpServersFile([FAKE_STDIO]), DEFAULT_TOOLS: 'fake.*' } });
    app.openrouter.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'fake__delete_everything', arguments: '{"what":"the logs"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
      { text: ['Done.'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
    );
    const input = new PassThrough();
    const writes: string[] = [];
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk.toString());
        callback();
      },
    });
    const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' } });
    input.write('clean up\n');
    await vi.waitFor(() => expect(writes.join('')).toContain('[y/n]'), { timeout: 10_000 });
    expect(writes.join('')).toContain('wants to run `fake.delete_everything`');
    input.write(`${key}\n`);
    input.end();
    await session.done;
    expect(app.openrouter.chatRequests()[1]!.body!.messages.find((m) => m.role === 'tool')?.content).toContain(toolResult);
    expect(writes.join('')).toContain(line);
    // The y/n line was taken as the answer, not as a question.
    expect(app.openrouter.chatRequests()).toHaveLength(2);
  });
});
