import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubSecrets } from '../src/log.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { lines, destination };
}

const KEY = 'sk-or-v1-0123456789abcdef';
const TOKEN = 'MTIzNDU2Nzg5.discord.token';

describe('logger', () => {
  it('writes JSON lines with the level and message', async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'info', destination });
    logger.child({ platform: 'discord' }).info({ model: 'x' }, 'hello');
    logger.debug('hidden');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ level: 30, msg: 'hello', platform: 'discord', model: 'x' });
  });

  it('never lets a configured secret reach a log line, wherever it appears', async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'trace', destination, secrets: [KEY, TOKEN] });
    logger.info({ apiKey: KEY }, 'key as field');
    logger.info({ headers: { authorization: `Bearer ${KEY}` } }, 'as header');
    logger.info(`in the message ${KEY} and ${TOKEN}`);
    logger.error({ err: new Error(`upstream said: bad key ${KEY}`) }, 'in an error');
    logger.warn({ nested: { deep: { value: `x${TOKEN}y` } } }, 'nested');
    logger.info({ json: JSON.stringify({ k: KEY }) }, 'escaped');
    await new Promise((r) => setImmediate(r));
    const all = lines.join('');
    expect(lines.length).toBe(6);
    expect(all).not.toContain(KEY);
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('0123456789abcdef');
    expect(all).toContain('[REDACTED]');
  });

  it('scrubs JSON-escaped forms too', () => {
    const secret = 'abc"def\\ghi';
    expect(scrubSecrets(JSON.stringify({ v: secret }), [secret])).not.toContain('def');
  });
});
