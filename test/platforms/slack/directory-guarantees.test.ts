/**
 * Who counts as a Slack workspace admin, and how much the user directory
 * remembers: through the real Bolt app and WebClient against the fake Slack.
 */
import { webApi } from '@slack/bolt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SLACK_DIRECTORY_MAX_USERS, SlackDirectory } from '../../../src/platforms/slack/directory.ts';
import { createFakeClock } from '../../fakes/fake-clock.ts';
import { startFakeSlack, type FakeSlack } from '../../fakes/slack.ts';
import { CHANNEL, startHarness, WORKSPACE_ADMIN, type Harness } from './harness.ts';

let h: Harness | undefined;
let fake: FakeSlack | undefined;

afterEach(async () => {
  await h?.close();
  await fake?.close();
  h = undefined;
  fake = undefined;
});

const OUTSIDER = 'U0OUTSIDER';
const STRANGER = 'U0STRANGER';
const GRID_ADMIN = 'U0GRIDADMIN';
const SET_MODEL = 'set anthropic/claude-3.5-sonnet';

describe('Slack Connect', () => {
  it('an outsider is never a workspace admin, whatever is_admin and is_owner say', async () => {
    h = await startHarness();
    const harness = h;
    // The owner of another organisation's workspace, in our shared channel.
    harness.fake.addUser({ id: OUTSIDER, name: 'olga', realName: 'Olga Outside', isAdmin: true, isOwner: true, teamId: 'T0OTHERORG' });
    // Slack marks some external people as strangers even when the team id looks familiar.
    harness.fake.addUser({ id: STRANGER, name: 'sam', realName: 'Sam Stranger', isAdmin: true, teamId: harness.fake.teamId, isStranger: true });
    const place = { platform: 'slack', workspaceId: harness.fake.teamId, channelId: CHANNEL };
    const model = async () => (await harness.app.core.settings.resolve(place)).model.value;

    for (const user of [OUTSIDER, STRANGER]) {
      await harness.fake.slashCommand({ command: '/model', text: SET_MODEL, user, channel: CHANNEL });
      await harness.adapter.idle();
      expect(harness.fake.ephemerals.at(-1)!.text).toMatch(/Only admins can use/);
      expect(await model()).toBe('openai/gpt-4o-mini');
    }
    expect(harness.fake.callsOf('users.info').map((c) => c.args.user)).toEqual(expect.arrayContaining([OUTSIDER, STRANGER]));

    // Our own admin still is one.
    await harness.fake.slashCommand({ command: '/model', text: SET_MODEL, user: WORKSPACE_ADMIN, channel: CHANNEL });
    await harness.adapter.idle();
    expect(await model()).toBe('anthropic/claude-3.5-sonnet');
    expect(harness.fake.ephemerals.filter((e) => /Only admins/.test(e.text))).toHaveLength(2);
    expect(harness.fake.violations).toEqual([]);
  });

  it('an Enterprise Grid admin whose home team is another workspace of our organisation stays an admin', async () => {
    h = await startHarness();
    const harness = h;
    harness.fake.addUser({
      id: GRID_ADMIN,
      name: 'gina',
      realName: 'Gina Grid',
      isAdmin: true,
      teamId: 'T0SISTER',
      enterprise: { id: 'E0ORG', teams: ['T0SISTER', harness.fake.teamId] },
    });
    await harness.fake.slashCommand({ command: '/model', text: SET_MODEL, user: GRID_ADMIN, channel: CHANNEL });
    await harness.adapter.idle();
    const place = { platform: 'slack', workspaceId: harness.fake.teamId, channelId: CHANNEL };
    expect((await harness.app.core.settings.resolve(place)).model.value).toBe('anthropic/claude-3.5-sonnet');
    expect(harness.fake.ephemerals.filter((e) => /Only admins/.test(e.text))).toHaveLength(0);
  });
});

describe('the Slack user directory', () => {
  async function directory(options: { maxUsers: number; ownTeam?: string }) {
    fake = await startFakeSlack();
    const client = new webApi.WebClient(fake.botToken, { slackApiUrl: `${fake.apiUrl.replace(/\/+$/, '')}/`, retryConfig: { retries: 0 } });
    const clock = createFakeClock(1_000_000);
    const dir = new SlackDirectory(client, clock, pino({ level: 'silent' }), 60_000, options.maxUsers);
    if (options.ownTeam !== undefined) dir.setOwnTeam(options.ownTeam);
    return { dir, fake, clock };
  }

  it(`remembers at most its cap of people (default ${SLACK_DIRECTORY_MAX_USERS}), dropping the least recently used first`, async () => {
    const { dir, fake } = await directory({ maxUsers: 3 });
    for (const id of ['U1', 'U2', 'U3', 'U4', 'U5']) fake.addUser({ id, name: id.toLowerCase() });
    const lookups = (id: string) => fake.callsOf('users.info').filter((c) => c.args.user === id).length;

    for (const id of ['U1', 'U2', 'U3']) await dir.nameOf(id);
    await dir.nameOf('U1'); // U1 is now the most recently used; U2 the least.
    await dir.nameOf('U4');
    await dir.nameOf('U5');
    expect(lookups('U1')).toBe(1);

    // U2 and U3 were dropped (lookups and names alike); U1, U4, U5 are still known.
    expect(['U1', 'U2', 'U3', 'U4', 'U5'].map((id) => dir.cachedName(id))).toEqual(['u1', undefined, undefined, 'u4', 'u5']);
    await dir.nameOf('U2');
    expect(lookups('U2')).toBe(2);
    for (const id of ['U4', 'U5']) await dir.nameOf(id);
    expect(lookups('U4') + lookups('U5')).toBe(2);
  });

  it('nobody is an admin through Slack flags before the workspace team is known', async () => {
    const { dir, fake } = await directory({ maxUsers: 10 });
    fake.addUser({ id: 'U0BOSS', name: 'boss', isAdmin: true, isOwner: true });
    expect(await dir.isAdmin('U0BOSS')).toBe(false);
    dir.setOwnTeam(fake.teamId);
    expect(await dir.isAdmin('U0BOSS')).toBe(true);
  });
});
