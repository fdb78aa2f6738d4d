import { Writable } from 'node:stream';
import { DiscordAPIError, HTTPError, REST, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createLogger, scrubSecrets } from '../src/log.ts';
import { startFakeDiscord, type FakeDiscord } from './fakes/discord.ts';

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

describe('what never reaches a log line', () => {
  it('the database password is scrubbed like the other secrets', async () => {
    const password = 'S3cr3t-Pa55word%2Fx';
    const config = parseConfig({
      OPENROUTER_API_KEY: KEY,
      DATABASE_URL: `postgres://sb_user:${password}@db.example:5432/switchboard?schema=sb`,
    });
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'trace', destination, secrets: config.secrets });
    logger.info({ databaseUrl: config.databaseUrl }, 'store config');
    logger.error({ err: new Error(`could not connect with ${config.databaseUrl}`) }, 'store failed');
    logger.warn(`password was ${decodeURIComponent(password)}`);
    // Without the configuration (usage:report's logger, a short password): the URL's shape is enough.
    const bare = capture();
    createLogger({ level: 'info', destination: bare.destination }).info({ url: 'postgresql://u:pw@10.0.0.5/db' }, 'a URL with credentials');
    await new Promise((r) => setImmediate(r));
    const all = lines.join('') + bare.lines.join('');
    expect(lines).toHaveLength(3);
    expect(all).not.toContain('S3cr3t');
    expect(all).not.toContain(':pw@');
    expect(all).toContain('postgres://sb_user:[REDACTED]@db.example:5432');
    expect(all).toContain('postgresql://u:[REDACTED]@10.0.0.5/db');
  });

  describe('Discord errors', () => {
    let discord: FakeDiscord;
    beforeAll(async () => {
      discord = await startFakeDiscord();
    });
    afterAll(async () => {
      await discord.close();
    });

    const INTERACTION_TOKEN = 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnNlY3JldA-_x.y';
    const CONTENT = 'my private question about the merger';

    /** A real DiscordAPIError, made by discord.js's REST against the fake Discord. */
    async function restError(call: (rest: REST) => Promise<unknown>): Promise<DiscordAPIError> {
      const rest = new REST({ version: '10', api: discord.apiUrl, retries: 0 }).setToken(discord.token);
      const error = await call(rest).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DiscordAPIError);
      return error as DiscordAPIError;
    }

    it('are logged without their URL (the interaction token), request body (message content) or raw error', async () => {
      const callback = await restError((rest) =>
        rest.post(Routes.interactionCallback('123456789012345678', INTERACTION_TOKEN), { body: { type: 4, data: { content: CONTENT } }, auth: false }),
      );
      const followUp = await restError((rest) =>
        rest.patch(Routes.webhookMessage(discord.applicationId, INTERACTION_TOKEN, '@original'), { body: { content: CONTENT }, auth: false }),
      );
      expect(callback.url).toContain(INTERACTION_TOKEN);
      expect(JSON.stringify(followUp.requestBody)).toContain(CONTENT);
      const wrapped = new Error('the answer could not be delivered', { cause: followUp });
      const aggregate = new AggregateError([callback, followUp], 'both failed');
      const http = new HTTPError(500, 'Internal Server Error', 'PATCH', `${discord.apiUrl}/v10/webhooks/1/${INTERACTION_TOKEN}/messages/@original`, {
        body: { content: CONTENT },
      });

      const { lines, destination } = capture();
      const logger = createLogger({ level: 'trace', destination, secrets: [discord.token] });
      logger.error({ err: callback, interaction: '123456789012345678' }, 'interaction failed');
      logger.warn({ err: followUp }, 'edit failed');
      logger.error({ err: wrapped }, 'wrapped');
      logger.error({ err: aggregate }, 'aggregate');
      logger.error({ err: http }, 'http error');
      logger.error({ err: { inner: followUp } }, 'nested');
      logger.error({ reason: callback, attempts: [followUp] }, 'under other keys');
      logger.info(`retrying ${followUp.url} and ${callback.url}`);
      await new Promise((r) => setImmediate(r));

      const all = lines.join('');
      expect(lines).toHaveLength(8);
      expect(all).not.toContain(INTERACTION_TOKEN);
      expect(all).not.toContain(CONTENT);
      const first = JSON.parse(lines[0]!) as { err: Record<string, unknown> };
      expect(first.err).not.toHaveProperty('url');
      expect(first.err).not.toHaveProperty('requestBody');
      expect(first.err).not.toHaveProperty('rawError');
      // What is left still says what went wrong.
      expect(first.err).toMatchObject({ code: 10062, status: 404, method: 'POST' });
      expect(first.err.message).toContain('Unknown interaction');
      expect(lines[7]).toContain('/webhooks/' + discord.applicationId + '/[REDACTED]');
    });
  });
});
