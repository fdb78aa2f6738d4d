/** Drives a terminal chat on a real core: feeds lines, waits until input ends and the last answer is done. */
import { PassThrough, Writable } from 'node:stream';
import { startConsoleChat, type ConsoleChatOptions } from '../../../src/platforms/console/console-chat.ts';
import type { TestApp } from '../../helpers/test-app.ts';

export interface Session {
  writes: string[];
  output(): string;
}

export async function chat(app: TestApp, lines: string[], options: Pick<ConsoleChatOptions, 'imageDir'> = {}): Promise<Session> {
  const input = new PassThrough();
  const writes: string[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString());
      callback();
    },
  });
  const session = startConsoleChat({ host: app.core.host, input, output, user: { id: 'ada', name: 'Ada' }, ...options });
  for (const line of lines) input.write(`${line}\n`);
  input.end();
  await session.done;
  return { writes, output: () => writes.join('') };
}
