/**
 * DMs have an owner. Direct messages are off unless ALLOW_DMS=true; when on,
 * they are governed by the bot's own admins (ADMIN_USER_IDS): every DM user has
 * the environment's default per-user limits, DMs never spend a server's budget
 * (QUOTA_DM_USD_PER_MONTH is their own overall cap), and a server manager or
 * workspace admin is no admin in a DM. On Discord and on Slack alike.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness as startDiscord, waitFor, type Harness as DiscordHarness } from './discord/harness.ts';
import { ALICE, DM_CHANNEL, LISTED_ADMIN, startHarness as startSlack, WORKSPACE_ADMIN, type Harness as SlackHarness } from './slack/harness.ts';

const DMS_OFF = /Direct messages to this bot are turned off/;

describe('DMs have an owner: Discord', () => {
  let h: DiscordHarness;
  afterEach(async () => {
    await h?.close();
  });

  const lastInDm = async (dmId: string) => {
    const message = await waitFor(() => h.fake.botMessages(dmId).at(-1), 'a reply in the DM');
    await h.adapter.idle();
    return message;
  };

  it('direct messages are off unless ALLOW_DMS=true: the refusal says so and where to ask; nothing reaches the model', async () => {
    h = await startDiscord({ env: { ALLOW_DMS: 'false' } });
    const dm = h.fake.dmChannel(h.fake.users.alice);
    h.fake.sendMessage({ user: h.fake.users.alice, channelId: dm.id, content: 'hello?' });
    expect((await lastInDm(dm.id)).content).toMatch(DMS_OFF);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('with DMs on, each DM user has the default per-user limits and DMs never spend the server budget', async () => {
    h = await startDiscord({ env: { QUOTA_DEFAULT_REQUESTS_PER_DAY: '1', QUOTA_SERVER_USD_PER_MONTH: '0' } });
    const general = h.fake.channels.general.id;
    // The server's budget is spent (0): a mention in the server is refused...
    h.fake.sendMessage({ user: h.fake.users.alice, channelId: general, content: `<@${h.fake.bot.id}> in the server` });
    const refused = await waitFor(() => h.fake.botMessages(general).at(-1), 'the refusal');
    await h.adapter.idle();
    expect(refused.content).toContain('This server has reached');
    // ...but a DM is not the server's: answered, under the user's own default limit of one request a day.
    const dm = h.fake.dmChannel(h.fake.users.bob);
    h.fake.sendMessage({ user: h.fake.users.bob, channelId: dm.id, content: 'first' });
    expect((await lastInDm(dm.id)).content).toMatch(/^You said: first/);
    h.fake.sendMessage({ user: h.fake.users.bob, channelId: dm.id, content: 'second' });
    await waitFor(() => h.fake.botMessages(dm.id).length >= 2 && h.fake.botMessages(dm.id).at(-1), 'the second reply');
    await h.adapter.idle();
    expect(h.fake.botMessages(dm.id).at(-1)!.content).toMatch(/daily request limit/);
    const rows = await h.app.core.store.ledger({});
    expect(rows.filter((row) => row.userId === h.fake.users.bob.id).map((row) => [row.workspaceId, row.outcome])).toEqual([
      ['@me', 'ok'],
      ['@me', 'refused'],
    ]);
  });

  it('QUOTA_DM_USD_PER_MONTH caps every DM together', async () => {
    h = await startDiscord({ env: { QUOTA_DM_USD_PER_MONTH: '0' } });
    const dm = h.fake.dmChannel(h.fake.users.carol);
    h.fake.sendMessage({ user: h.fake.users.carol, channelId: dm.id, content: 'anything' });
    expect((await lastInDm(dm.id)).content).toMatch(/This server has reached its monthly budget|monthly budget/);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('in a DM only ADMIN_USER_IDS are admins: a server manager is not', async () => {
    h = await startDiscord({ global: true, env: { ADMIN_USER_IDS: 'discord:999999' } });
    // Bob manages the fake server (Manage Guild): an admin there, not in his DM.
    const bob = h.fake.users.bob;
    const inServer = await h.fake.runCommand({ user: bob, channelId: h.fake.channels.general.id, name: 'usage', options: { user: 'top' } });
    await h.adapter.idle();
    expect(h.fake.interactionMessages(inServer).at(-1)!.content).not.toMatch(/Only admins/);
    const dmOfBob = h.fake.dmChannel(bob);
    const inDm = await h.fake.runCommand({ user: bob, channelId: dmOfBob.id, name: 'usage', options: { user: 'top' } });
    await h.adapter.idle();
    expect(h.fake.interactionMessages(inDm).at(-1)!.content).toMatch(/Only admins can use `\/usage top`/);
  });
});

describe('DMs have an owner: Slack', () => {
  let h: SlackHarness;
  afterEach(async () => {
    await h?.close();
  });

  it('direct messages are off unless ALLOW_DMS=true: the refusal says so, privately; nothing reaches the model', async () => {
    h = await startSlack({ env: { ALLOW_DMS: '' } });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'hello?' });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)?.text).toMatch(DMS_OFF);
    expect(h.app.openrouter.chatRequests()).toEqual([]);
  });

  it('a workspace admin is no admin in a DM; ADMIN_USER_IDS are', async () => {
    h = await startSlack();
    await h.fake.slashCommand({ command: '/usage', text: 'top', user: WORKSPACE_ADMIN, channel: DM_CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)?.text).toMatch(/Only admins can use `\/usage top`/);
    await h.fake.slashCommand({ command: '/usage', text: 'top', user: LISTED_ADMIN, channel: DM_CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)?.text).not.toMatch(/Only admins/);
  });
});
