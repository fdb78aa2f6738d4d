/**
 * The fleet's Discord proxy (src/ops/discord-proxy.ts, in process) between
 * the real @discordjs/rest clients the bots use and the fake Discord, which
 * holds them to Discord's global limit of 50 requests a second per bot
 * token, interaction endpoints exempt. Interaction callbacks and interaction
 * webhooks must not wait behind the bot's global queue (Discord does not
 * count them, and an acknowledgement has 3 s); a request a bot gave up on
 * must leave the proxy's queue unsent.
 */
import { REST } from '@discordjs/rest';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INTERACTION_TOKEN_LIFETIME_MS, InteractionTokens, classifyRoute } from '../../src/ops/discord-proxy-routes.ts';
import { parseProxyEnv, startDiscordProxy, type DiscordProxy } from '../../src/ops/discord-proxy.ts';
import { startFakeDiscord, type FakeDiscord, type FakeInteraction } from '../fakes/discord.ts';

const CALLBACK = /^\/interactions\/\d+\/[^/]+\/callback$/;
const logger = pino({ level: 'silent' });

let fake: FakeDiscord;
let proxy: DiscordProxy | undefined;
let clients: REST[] = [];
let channels: string[];

beforeEach(async () => {
  fake = await startFakeDiscord({ rateLimit: { count: 1000, windowMs: 5000 } });
  channels = Array.from({ length: 50 }, (_, i) => fake.addChannel(`load-${i}`).id);
  await new REST({ api: fake.apiUrl, retries: 0 })
    .setToken(fake.token)
    .put(`/applications/${fake.applicationId}/guilds/${fake.guildId}/commands`, {
      body: [{ name: 'ask', description: 'Ask', options: [{ type: 3, name: 'prompt', description: 'The question', required: true }] }],
    });
});

afterEach(async () => {
  for (const client of clients) {
    client.clearHashSweeper();
    client.clearHandlerSweeper();
  }
  clients = [];
  await proxy?.close();
  proxy = undefined;
  await fake.close();
});

async function startProxy(): Promise<string> {
  proxy = await startDiscordProxy(parseProxyEnv({ DISCORD_PROXY_PORT: '0', DISCORD_PROXY_UPSTREAM: fake.apiUrl }), logger);
  const { port } = proxy.server.address() as { port: number };
  return `http://127.0.0.1:${port}/api`;
}

/** A bot process's REST client (discord.js's own, with its defaults). */
function client(api: string): REST {
  const rest = new REST({ api }).setToken(fake.token);
  clients.push(rest);
  return rest;
}

/** What a bot does with an /ask: acknowledge (defer), then edit the answer in twice. */
async function answer(rest: REST, interaction: FakeInteraction): Promise<void> {
  await rest.post(`/interactions/${interaction.id}/${interaction.token}/callback`, {
    body: { type: 5, data: {} },
    auth: false,
    query: new URLSearchParams({ with_response: 'false' }),
  });
  for (const text of ['The answer', 'The answer, complete.']) {
    await rest.patch(`/webhooks/${fake.applicationId}/${interaction.token}/messages/@original`, {
      body: { content: text, allowed_mentions: { parse: [] } },
      auth: false,
    });
  }
}

function asks(count: number): FakeInteraction[] {
  return Array.from({ length: count }, (_, i) =>
    fake.startCommand({ user: fake.users.alice, channelId: channels[i % channels.length]!, name: 'ask', options: { prompt: `q${i}` } }),
  );
}

function expectAnsweredOnce(interactions: FakeInteraction[]): void {
  for (const interaction of interactions) {
    expect(interaction.ackType).toBe(5);
    expect(fake.requests.filter((r) => CALLBACK.test(r.path) && r.path.includes(`/${interaction.id}/`))).toHaveLength(1);
    expect(fake.interactionMessages(interaction).map((m) => m.content)).toEqual(['The answer, complete.']);
  }
}

describe('the Discord proxy and the global limit', () => {
  it('answers interactions at once while the bot global limit holds every other request', async () => {
    const api = await startProxy();
    const bot = client(api);
    // Discord says the bot is over its global limit for 3 s: the proxy holds the bot's requests.
    fake.failNext({
      method: 'GET',
      path: /^\/channels\/\d+$/,
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: 3, global: true },
      headers: { 'retry-after': '3', 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' },
    });
    let held = false;
    const heldRequest = bot.get(`/channels/${channels[0]}`).then(() => (held = true));
    await expect.poll(() => fake.requests.filter((r) => r.status === 429).length, { timeout: 10_000 }).toBe(1);

    const interactions = asks(40);
    await Promise.all(interactions.map((interaction, i) => answer(clients[i % 2] ?? client(api), interaction)));
    // Every interaction was acknowledged and edited while the bot's own request still waited.
    expect(held).toBe(false);
    expectAnsweredOnce(interactions);
    await heldRequest;
    expect(held).toBe(true);
    expect(fake.violations).toEqual([]);
  });

  it('three bots through one proxy: 150 bot requests and 60 answered interactions at once, no 429, each interaction acknowledged once', async () => {
    const api = await startProxy();
    const bots = [client(api), client(api), client(api)];
    const started = performance.now();
    let lastBotRequestAt = 0;
    const load = Array.from({ length: 150 }, (_, i) =>
      bots[i % 3]!.get(`/channels/${channels[i % channels.length]}`).then(() => (lastBotRequestAt = performance.now())),
    );
    const interactions = asks(60);
    let lastAnswerAt = 0;
    await Promise.all(interactions.map((interaction, i) => answer(bots[i % 3]!, interaction).then(() => (lastAnswerAt = performance.now()))));
    await Promise.all(load);

    expectAnsweredOnce(interactions);
    expect(fake.violations).toEqual([]);
    expect(fake.requests.filter((r) => r.status === 429)).toEqual([]);
    expect(Object.fromEntries(proxy!.responses)).toEqual({ 200: 150 + 120, 204: 60 });
    // The proxy spread the bot requests over three global windows; the interactions did not wait for them.
    expect(lastBotRequestAt - started).toBeGreaterThanOrEqual(2000);
    expect(lastAnswerAt).toBeLessThan(lastBotRequestAt);
  });

  it('drops a queued request whose bot gave up: it is never sent to Discord', async () => {
    const api = await startProxy();
    fake.failNext({
      method: 'GET',
      path: /^\/channels\/\d+$/,
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: 2.5, global: true },
      headers: { 'retry-after': '2.5', 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' },
    });
    const first = client(api).get(`/channels/${channels[0]}`);
    await expect.poll(() => fake.requests.length, { timeout: 10_000 }).toBe(2);
    // A bot whose request timed out in the queue (its own timeout, shortened).
    const impatient = new REST({ api, timeout: 1000, retries: 0 }).setToken(fake.token);
    clients.push(impatient);
    await expect(impatient.get(`/channels/${channels[1]}`)).rejects.toThrow(/abort/i);
    await first;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(fake.requests.map((r) => r.path).filter((p) => p === `/channels/${channels[1]}`)).toEqual([]);
  });
});

describe('the Discord proxy when Discord cannot be reached', () => {
  it('answers 502 with a JSON body, and stays up', async () => {
    const closed = await startFakeDiscord();
    const unreachable = closed.apiUrl;
    await closed.close();
    proxy = await startDiscordProxy(parseProxyEnv({ DISCORD_PROXY_PORT: '0', DISCORD_PROXY_UPSTREAM: unreachable }), logger);
    const { port } = proxy.server.address() as { port: number };
    const response = await fetch(`http://127.0.0.1:${port}/api/v10/channels/${channels[0]}`, { headers: { authorization: `Bot ${fake.token}` } });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ message: 'Switchboard discord proxy: upstream request failed', code: 0 });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

describe('the fake Discord holds clients to the global limit', () => {
  it('two processes without a proxy go over 50 requests a second: global 429s; interaction endpoints are never limited', async () => {
    const [a, b] = [client(fake.apiUrl), client(fake.apiUrl)];
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).get(`/channels/${channels[i % channels.length]}`)));
    const limited = fake.requests.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(fake.violations.length).toBe(limited.length);
    expect(fake.violations[0]).toMatch(/over the global limit of 50 requests a second/);

    fake.violations.length = 0;
    const before = fake.requests.length;
    const interactions = asks(60);
    await Promise.all(interactions.map((interaction) => answer(a, interaction)));
    expect(fake.requests.slice(before).filter((r) => r.status === 429)).toEqual([]);
    expectAnsweredOnce(interactions);
    expect(fake.violations).toEqual([]);
  });

  it('answers a global 429 as Discord does: Retry-After, X-RateLimit-Global, scope global, retry_after in seconds', async () => {
    const strict = await startFakeDiscord({ globalPerSecond: 1 });
    try {
      const get = () => fetch(`${strict.apiUrl}/v10/channels/${strict.channels.general.id}`, { headers: { authorization: `Bot ${strict.token}` } });
      expect((await get()).status).toBe(200);
      const response = await get();
      expect(response.status).toBe(429);
      expect(response.headers.get('x-ratelimit-global')).toBe('true');
      expect(response.headers.get('x-ratelimit-scope')).toBe('global');
      const retryAfter = Number(response.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(1);
      const body = (await response.json()) as { global: boolean; retry_after: number; message: string };
      expect(body).toEqual({ message: 'You are being rate limited.', retry_after: retryAfter, global: true });
      // Another bot token has a limit of its own.
      expect((await fetch(`${strict.apiUrl}/v10/channels/${strict.channels.general.id}`, { headers: { authorization: 'Bot other' } })).status).toBe(401);
      expect(strict.violations).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });
});

describe('which routes skip the global limit', () => {
  it('the callback, and webhooks with a token the proxy saw acknowledged, until it expires; nothing with a bot token', () => {
    let now = 0;
    const tokens = new InteractionTokens(() => now);
    expect(classifyRoute('/webhooks/111111111111111111/tok/messages/@original', false, tokens)).toBe('bot');
    expect(classifyRoute('/interactions/222222222222222222/tok/callback', false, tokens)).toBe('interaction-callback');
    expect(classifyRoute('/webhooks/111111111111111111/tok/messages/@original', false, tokens)).toBe('interaction-webhook');
    expect(classifyRoute('/webhooks/111111111111111111/tok', false, tokens)).toBe('interaction-webhook');
    expect(classifyRoute('/webhooks/111111111111111111/tok/messages/@original', true, tokens)).toBe('bot');
    expect(classifyRoute('/webhooks/111111111111111111/other/messages/@original', false, tokens)).toBe('bot');
    expect(classifyRoute('/channels/333333333333333333/messages', true, tokens)).toBe('bot');
    now += INTERACTION_TOKEN_LIFETIME_MS;
    expect(classifyRoute('/webhooks/111111111111111111/tok/messages/@original', false, tokens)).toBe('bot');
    classifyRoute('/interactions/222222222222222223/next/callback', false, tokens);
    // Expired tokens are swept when new ones arrive.
    expect(tokens.size).toBe(1);
  });
});
