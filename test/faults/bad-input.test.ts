/**
 * Bad input on every surface: each gets a clear message or a rejection, never
 * a crash and never a ping. The core runs in-process; Discord and Slack run
 * their real clients against the fakes, which record any ping or broken rule.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness as CoreHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { startHarness as startDiscord, type Harness as DiscordHarness } from '../platforms/discord/harness.ts';
import { ALICE, CHANNEL, startHarness as startSlack, WORKSPACE_ADMIN, type Harness as SlackHarness } from '../platforms/slack/harness.ts';
import { IN_PROGRESS } from './cases.ts';

const HUGE_PROMPT = 'x'.repeat(100_000);
/** NUL, BEL, an ANSI escape, DEL, a lone high and a lone low surrogate. */
const CONTROL_PROMPT = 'tab\there \u0000nul \u0007bell \u001b[31mred\u001b[0m del\u007f lone \ud800 and \udfff end';
const LIMIT_MESSAGE = /Your message is 100,000 characters; the limit is 8,000\./;

describe('bad input on the core (terminal / in-process)', () => {
  let t: TestApp;
  let h: CoreHarness;
  const alice = { id: 'alice', name: 'Alice' };
  const admin = { id: 'root', name: 'Root', admin: true };

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    t.openrouter.reset();
    h = createHarness(t.core);
  });

  const expectNothingAsked = async () => {
    expect(t.openrouter.chatRequests()).toEqual([]);
    expect(h.surfaces.flatMap((s) => s.texts())).toEqual([]);
  };

  it.each([
    ['empty', ''],
    ['whitespace only', ' \n\t  \u3000 '],
    ['control characters only', '\u0000\u0007\u001b'],
  ])('an %s prompt is refused with a clear message', async (_name, prompt) => {
    await h.run(alice, 'ask', undefined, { prompt });
    expect(h.replies).toEqual([{ text: expect.stringMatching(/empty/), ephemeral: true }]);
    await expectNothingAsked();
  });

  it('a 100,000-character prompt is refused with its size and the limit', async () => {
    await h.run(alice, 'ask', undefined, { prompt: HUGE_PROMPT });
    expect(h.replies).toEqual([{ text: expect.stringMatching(LIMIT_MESSAGE), ephemeral: true }]);
    await expectNothingAsked();
  });

  it('control characters and invalid UTF-16 are cleaned before the model sees them; the answer arrives', async () => {
    await h.run(alice, 'ask', undefined, { prompt: CONTROL_PROMPT });
    const sent = t.openrouter.chatRequests()[0]!.body!.messages.at(-1)!.content!;
    expect(sent).toBe('tab\there nul bell [31mred[0m del lone \ufffd and \ufffd end');
    const [answer] = h.surfaces[0]!.texts();
    expect(answer).toMatch(/^You said: tab\there nul bell .* end\n\n.*gpt-4o-mini/);
    expect(answer).not.toMatch(IN_PROGRESS);
  });

  it.each([
    ['spaces', 'openai/gpt 4o', /`openai\/gpt 4o` is not a model id/],
    ['an unknown provider', 'acme/turbo-9000', /There is no model `acme\/turbo-9000` on OpenRouter\./],
    ['a newline', 'openai/gpt-4o-mini\n@everyone', /is not a model id/],
  ])('a model id with %s is refused (admin, per request)', async (_name, model, message) => {
    await h.run(admin, 'ask', undefined, { prompt: 'hi', model });
    expect(h.lastReply()).toMatch(message);
    await expectNothingAsked();
  });

  it('a model id with spaces is refused by /model set too', async () => {
    await h.run(admin, 'model', 'set', { model: 'gpt 4o mini' });
    expect(h.lastReply()).toMatch(/is not a model id/);
    expect((await t.core.settings.resolve({ platform: 'test', workspaceId: 'w1', channelId: 'c1' })).model.value).toBe('openai/gpt-4o-mini');
  });

  it('a per-request model from a non-admin where the channel does not allow it is refused', async () => {
    await h.run(alice, 'ask', undefined, { prompt: 'hi', model: 'anthropic/claude-3.5-sonnet' });
    expect(h.lastReply()).toMatch(/does not let users pick their own model/);
    await expectNothingAsked();
  });

  it.each([
    ['-5', /cannot be negative/],
    ['-0.01', /cannot be negative/],
    ['1e400', /is not a number/],
    ['NaN', /is not a number/],
    ['Infinity', /is not a number/],
    ['99999999999999999999', /too large/],
    ['2.5', /takes a whole number/],
    ['0x10', /takes a whole number|is not a number|16/],
  ])('/quota set requests-per-day %s gets a clear message and changes nothing', async (value, message) => {
    await h.run(admin, 'quota', 'set', { target: 'default', limit: 'requests-per-day', value });
    expect(h.lastReply()).toMatch(message);
    if (!/16/.test(h.lastReply())) {
      expect(await t.core.store.getQuotaLimits('test', 'w1', { kind: 'default' })).toEqual({});
    }
    await t.core.store.clearQuotaLimits('test', 'w1', { kind: 'default' });
  });

  it('a huge but valid USD budget is accepted, a larger one refused', async () => {
    await h.run(admin, 'quota', 'set', { target: 'default', limit: 'usd-per-month', value: '1000000000' });
    expect(h.lastReply()).toMatch(/is now \$1000000000\.00/);
    await h.run(admin, 'quota', 'set', { target: 'default', limit: 'usd-per-month', value: '1000000001' });
    expect(h.lastReply()).toMatch(/too large/);
    await t.core.store.clearQuotaLimits('test', 'w1', { kind: 'default' });
  });

  it.each([
    ['ask', undefined, {}, /`prompt` is required\. Usage: `\/ask <prompt> \[model\] \[private\]`/],
    ['ask', undefined, { prompt: 'hi', temperature: 2 }, /unknown option `temperature`/],
    ['quota', 'set', { target: 'default', limit: 'requests-per-day' }, /`value` is required/],
    ['quota', 'set', { target: 'default', limit: 'bananas-per-day', value: '3' }, /`limit`/],
    ['ask', undefined, { prompt: 42 }, /`prompt`: Invalid input: expected string, received number/],
  ] as const)('/%s %s with missing, extra or mistyped options gets the usage', async (name, sub, options, message) => {
    await h.run(admin, name, sub, { ...options });
    expect(h.replies).toEqual([{ text: expect.stringMatching(message), ephemeral: true }]);
    expect(t.openrouter.chatRequests()).toEqual([]);
  });
});

describe('bad input on Discord (real discord.js against the fake Discord)', () => {
  let h: DiscordHarness;
  let general: string;

  beforeAll(async () => {
    h = await startDiscord();
    general = h.fake.channels.general.id;
  });
  afterAll(async () => {
    await h?.close();
  });
  beforeEach(() => {
    h.fake.violations.length = 0;
    h.app.openrouter.reset();
  });

  const command = async (name: string, options: Record<string, string>, user = h.fake.users.alice, subcommand?: string) => {
    const interaction = await h.fake.runCommand({ user, channelId: general, name, subcommand, options });
    await h.adapter.idle();
    return interaction;
  };
  const ephemeral = (interaction: Awaited<ReturnType<typeof command>>) =>
    h.fake.interactionMessages(interaction).filter((m) => m.ephemeralFor !== undefined).map((m) => m.content);

  it.each([
    ['whitespace only', '  \t  ', /empty/],
    ['100,000 characters', HUGE_PROMPT, LIMIT_MESSAGE],
  ])('a %s prompt gets an ephemeral refusal and no public message', async (_name, prompt, message) => {
    const interaction = await command('ask', { prompt });
    expect(ephemeral(interaction)).toEqual([expect.stringMatching(message)]);
    expect(h.fake.message(interaction.originalId!)?.ephemeralFor ?? 'gone').not.toBeUndefined();
    expect(h.app.openrouter.chatRequests()).toEqual([]);
    expect(h.fake.violations).toEqual([]);
  });

  it('a prompt full of @everyone, @here, role and user mentions echoed by the model pings nobody', async () => {
    const role = h.fake.roles[1]!.id;
    const prompt = `@everyone @here <@&${role}> <@${h.fake.users.bob.id}> <@!${h.fake.users.carol.id}> @everyone`;
    const interaction = await command('ask', { prompt });
    const [message] = h.fake.interactionMessages(interaction);
    expect(message!.content).toContain('@everyone');
    expect(message!.content).toContain(`<@&${role}>`);
    expect(message!.mention_everyone).toBe(false);
    const writes = h.fake.requests.filter((r) => r.method !== 'GET' && /messages|webhooks/.test(r.path) && r.status === 200);
    for (const write of writes) expect((write.body as { allowed_mentions?: unknown }).allowed_mentions).toEqual({ parse: [] });
    expect(h.fake.violations).toEqual([]);
  });

  it('control characters and invalid UTF-16 in a prompt: the answer arrives', async () => {
    const interaction = await command('ask', { prompt: CONTROL_PROMPT });
    const [message] = h.fake.interactionMessages(interaction);
    expect(message!.content).toMatch(/^You said: tab\there nul bell .*lone \ufffd and \ufffd end\n\n.*gpt-4o-mini/);
    expect(h.fake.violations).toEqual([]);
  });

  it('a model id with spaces (as the owner) is refused ephemerally', async () => {
    const interaction = await command('ask', { prompt: 'hi', model: 'openai/gpt 4o' }, h.fake.users.owner);
    expect(ephemeral(interaction)).toEqual([expect.stringMatching(/is not a model id/)]);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('a negative quota (as the owner) is refused ephemerally', async () => {
    const interaction = await command('quota', { target: 'default', limit: 'requests-per-day', value: '-5' }, h.fake.users.owner, 'set');
    expect(ephemeral(interaction)).toEqual([expect.stringMatching(/cannot be negative/)]);
    expect(h.fake.violations).toEqual([]);
  });
});

describe('bad input on Slack (real Bolt against the fake Slack)', () => {
  let h: SlackHarness;

  beforeAll(async () => {
    h = await startSlack();
  });
  afterAll(async () => {
    await h?.close();
  });
  beforeEach(() => {
    h.fake.violations.length = 0;
    h.fake.ephemerals.length = 0;
    h.app.openrouter.reset();
  });

  const mention = async (text: string) => {
    const delivery = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: `<@${h.fake.botUserId}> ${text}` });
    await h.adapter.idle();
    return delivery;
  };
  const slash = async (command: string, text: string, user = ALICE) => {
    const delivery = await h.fake.slashCommand({ command, text, user, channel: CHANNEL });
    await h.adapter.idle();
    return delivery;
  };
  const ephemerals = () => h.fake.ephemerals.map((e) => e.text);

  it('a mention with nothing but the bot in it gets an ephemeral "empty" message', async () => {
    await mention('   ');
    expect(ephemerals()).toEqual([expect.stringMatching(/empty/)]);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('/ask with 100,000 characters gets the limit, ephemerally', async () => {
    await slash('/ask', HUGE_PROMPT);
    expect(ephemerals()).toEqual([expect.stringMatching(LIMIT_MESSAGE)]);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('<!channel>, <!here>, <!everyone>, @channel and a user group echoed by the model ping nobody', async () => {
    const delivery = await mention('<!channel> <!here> <!everyone> @channel @here <!subteam^S0DEVS|@devs> hello');
    const answer = h.fake.botMessages(CHANNEL, delivery.ts).map((m) => h.fake.visibleText(m)).join('\n');
    expect(answer).toMatch(/^You said: .*hello\n.*gpt-4o-mini/);
    expect(answer).not.toMatch(/<!(channel|here|everyone|subteam)/);
    expect(h.fake.violations).toEqual([]);
  });

  it('control characters and invalid UTF-16 in a mention: the answer arrives', async () => {
    const delivery = await mention(CONTROL_PROMPT);
    const answer = h.fake.botMessages(CHANNEL, delivery.ts).map((m) => h.fake.visibleText(m)).join('\n');
    expect(answer).toMatch(/^You said: tab\s+here nul bell .* end\n.*gpt-4o-mini/);
    expect(h.fake.violations).toEqual([]);
  });

  it.each(['bad', 'stale', 'missing'] as const)('a request with a %s signature is rejected (401) and nothing runs', async (signature) => {
    const before = h.fake.calls.length;
    const slashed = await h.fake.slashCommand({ command: '/ask', text: 'hello', user: ALICE, channel: CHANNEL, signature });
    const mentioned = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: `<@${h.fake.botUserId}> hello`, signature });
    await h.adapter.idle();
    expect([slashed.status, mentioned.status]).toEqual([401, 401]);
    expect(h.fake.calls.slice(before).filter((c) => c.method.startsWith('chat.'))).toEqual([]);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('a replayed event (the same signed bytes twice) is answered once', async () => {
    const message = h.fake.addUserMessage({ user: ALICE, channel: CHANNEL, text: `<@${h.fake.botUserId}> once` });
    const body = JSON.stringify({
      token: 'legacy-verification-token',
      team_id: h.fake.teamId,
      api_app_id: 'A0FAKE',
      type: 'event_callback',
      event_id: 'Ev0REPLAY1',
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_mention', user: ALICE, text: message.text, ts: message.ts, channel: CHANNEL, event_ts: message.ts, team: h.fake.teamId },
      authorizations: [{ enterprise_id: null, team_id: h.fake.teamId, user_id: h.fake.botUserId, is_bot: true, is_enterprise_install: false }],
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', h.fake.signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    const headers = { 'content-type': 'application/json', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature };
    const first = await fetch(h.fake.receiverUrl!, { method: 'POST', headers, body });
    const second = await fetch(h.fake.receiverUrl!, { method: 'POST', headers, body });
    await h.adapter.idle();
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
    expect(h.fake.botMessages(CHANNEL, message.ts).filter((m) => m.origin === 'stream')).toHaveLength(1);
  });

  it.each([
    ['/ask', '', /prompt/],
    ['/quota', 'set default requests-per-day', /value/],
    ['/quota', 'set default requests-per-day -5', /cannot be negative/],
    ['/quota', 'set default requests-per-day 1e400', /is not a number/],
    ['/model', 'set openai/gpt 4o', /`openai\/gpt 4o` is not a model id/],
    ['/model', 'frobnicate', /frobnicate|one of/],
  ])('%s %s gets a clear ephemeral message', async (command, text, message) => {
    await slash(command, text, WORKSPACE_ADMIN);
    expect(ephemerals()).toEqual([expect.stringMatching(message)]);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
    expect(await h.app.core.store.getQuotaLimits('slack', h.fake.teamId, { kind: 'default' })).toEqual({});
  });
});
