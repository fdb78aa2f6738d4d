/**
 * DISCORD_INTERACTIONS_API_URL: with DISCORD_API_URL pointed at a fleet's proxy,
 * the interaction endpoints (acknowledgement, the answer's edits by the
 * interaction's token) go straight to Discord (the fake here) and every
 * request with the bot's token through the proxy (a recording forwarder
 * here). Real discord.js against the fake Discord.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { directInteractions } from '../../../src/platforms/discord/adapter.ts';
import { startHarness, type Harness } from './harness.ts';

/** Forwards every request to `upstream()` as is and records its method and path. */
async function recordingForwarder(upstream: () => string): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '/', upstream());
    const out = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('Discord interaction endpoints past the proxy (DISCORD_INTERACTIONS_API_URL)', () => {
  let h: Harness | undefined;
  let proxy: Awaited<ReturnType<typeof recordingForwarder>> | undefined;
  afterEach(async () => {
    await h?.close();
    const server = proxy?.server;
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
    h = proxy = undefined;
  });

  it('sends /ask’s acknowledgement and edits straight to Discord, and the bot’s own requests through the proxy', async () => {
    let fakeApi = '';
    proxy = await recordingForwarder(() => fakeApi);
    const env: Record<string, string> = { DISCORD_API_URL: `${proxy.url}/api` };
    h = await startHarness({
      // The fake's address is known once it runs; the bot reads env after this.
      setup: (fake) => {
        fakeApi = new URL(fake.apiUrl).origin;
        env.DISCORD_INTERACTIONS_API_URL = fake.apiUrl;
      },
      env,
    });
    const direct: string[] = [];
    h.fake.onRequest((request) => direct.push(`${request.method} ${request.path}`));
    h.app.openrouter.enqueue({ text: ['Straight ', 'through.'] });
    const interaction = await h.fake.runCommand({ user: h.fake.users.alice, channelId: h.fake.channels.general.id, name: 'ask', options: { prompt: 'hi' } });
    await h.adapter.idle();

    expect(h.fake.interactionMessages(interaction).at(-1)!.content).toMatch(/^Straight through\./);
    const interactionWrites = (seen: string[]) => seen.filter((line) => /\/(interactions\/\d+\/[^/]+\/callback|webhooks\/)/.test(line));
    // The acknowledgement and the answer's edits reached the fake, none by the proxy.
    expect(interactionWrites(proxy.seen)).toEqual([]);
    expect(direct.filter((line) => /^POST \/interactions\/\d+\/[^/]+\/callback$/.test(line))).toHaveLength(1);
    expect(direct.some((line) => line.startsWith('PATCH /webhooks/'))).toBe(true);
    // What carries the bot's token (registering the commands) went through the proxy.
    expect(proxy.seen.some((line) => line.startsWith('PUT /api/v10/applications/'))).toBe(true);
    expect(h.fake.violations).toEqual([]);
  });

  it('refuses a DISCORD_INTERACTIONS_API_URL that is not a URL, naming it', async () => {
    await expect(startHarness({ env: { DISCORD_INTERACTIONS_API_URL: 'discord.com/api' } })).rejects.toThrow(/DISCORD_INTERACTIONS_API_URL/);
  });
});

describe('directInteractions', () => {
  it('sends only token-less interaction endpoints of the proxy’s base straight on', async () => {
    const urls: string[] = [];
    const discord = await import('discord.js');
    const original = discord.DefaultRestOptions.makeRequest;
    const record = (url: string) => {
      urls.push(url);
      return Promise.reject(new Error('not sent'));
    };
    (discord.DefaultRestOptions as { makeRequest: unknown }).makeRequest = record;
    try {
      const send = directInteractions('http://proxy:8080/api/', 'https://discord.example/api');
      const bot = { headers: { Authorization: 'Bot secret' } };
      for (const [url, init] of [
        ['http://proxy:8080/api/v10/interactions/123/tok-en_1/callback', {}],
        ['http://proxy:8080/api/v10/interactions/123/tok/callback?with_response=true', {}],
        ['http://proxy:8080/api/v10/webhooks/55/tok/messages/@original', {}],
        ['http://proxy:8080/api/v10/webhooks/55/tok?wait=true', {}],
        // With the bot's token: through the proxy, whatever the route.
        ['http://proxy:8080/api/v10/webhooks/55/tok/messages/@original', bot],
        ['http://proxy:8080/api/v10/channels/9/messages', bot],
        ['http://proxy:8080/api/v10/channels/9/messages', {}],
        ['http://elsewhere/api/v10/interactions/123/tok/callback', {}],
      ] as const) {
        await send(url, init).catch(() => undefined);
      }
    } finally {
      (discord.DefaultRestOptions as { makeRequest: unknown }).makeRequest = original;
    }
    expect(urls).toEqual([
      'https://discord.example/api/v10/interactions/123/tok-en_1/callback',
      'https://discord.example/api/v10/interactions/123/tok/callback?with_response=true',
      'https://discord.example/api/v10/webhooks/55/tok/messages/@original',
      'https://discord.example/api/v10/webhooks/55/tok?wait=true',
      'http://proxy:8080/api/v10/webhooks/55/tok/messages/@original',
      'http://proxy:8080/api/v10/channels/9/messages',
      'http://proxy:8080/api/v10/channels/9/messages',
      'http://elsewhere/api/v10/interactions/123/tok/callback',
    ]);
  });
});
