/**
 * Slack user groups as quota tiers through the real Bolt: groups come from
 * usergroups.list, tiers are set by handle, and a failed lookup means the
 * default tier with a log line, never a refusal of its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, CHANNEL, LISTED_ADMIN, startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const lastEphemeral = (user: string) => h!.fake.ephemerals.filter((e) => e.user === user || e.via === 'response_url').at(-1)?.text;

async function command(user: string, command: string, text: string): Promise<void> {
  await h!.fake.slashCommand({ command, text, user, channel: CHANNEL });
  await h!.adapter.idle();
}

async function okAnswers(user: string): Promise<number> {
  const rows = await h!.app.core.store.ledger({});
  return rows.filter((r) => r.userId === user && r.outcome === 'ok').length;
}

describe('Slack user groups as quota tiers', () => {
  it('/quota set group:<handle> applies to the group’s members; others get the default', async () => {
    h = await startHarness({ env: { DEFAULT_TOOLS: '' } });
    h.fake.userGroups.push({ id: 'S0ENG', handle: 'eng', name: 'Engineering', users: [ALICE] });
    await command(LISTED_ADMIN, '/quota', 'set default requests-per-day 1');
    await command(LISTED_ADMIN, '/quota', 'set group:@eng requests-per-day 3');
    expect(lastEphemeral(LISTED_ADMIN)).toContain('`requests-per-day` for the user group eng is now 3.');
    await command(LISTED_ADMIN, '/quota', 'set group:ops requests-per-day 3');
    expect(lastEphemeral(LISTED_ADMIN)).toContain('There is no user group `ops` here');

    for (let i = 0; i < 4; i++) await command(ALICE, '/ask', `question ${i}`);
    for (let i = 0; i < 2; i++) await command(BOB, '/ask', `question ${i}`);
    expect(await okAnswers(ALICE)).toBe(3);
    expect(await okAnswers(BOB)).toBe(1);
    // One usergroups.list for the set commands and the asks together (shared for a minute, members cached longer).
    expect(h.fake.callsOf('usergroups.list').length).toBeLessThanOrEqual(2);

    await command(LISTED_ADMIN, '/quota', `show <@${ALICE}>`);
    expect(lastEphemeral(LISTED_ADMIN)).toContain("tier of the user group eng: the most generous of their user groups' tiers");
    expect(h.fake.violations).toEqual([]);
  });

  it('usergroups.list failing: the default tier applies and it is logged', async () => {
    h = await startHarness({ env: { DEFAULT_TOOLS: '' } });
    h.fake.userGroups.push({ id: 'S0ENG', handle: 'eng', name: 'Engineering', users: [ALICE] });
    await command(LISTED_ADMIN, '/quota', 'set default requests-per-day 1');
    // The tier as an earlier run left it: no usergroups.list in this process yet.
    await h.app.core.store.setQuotaTier('slack', h.fake.teamId, 'S0ENG', 'eng');
    await h.app.core.store.setQuotaLimit('slack', h.fake.teamId, { kind: 'role', roleId: 'S0ENG' }, 'requests-per-day', 3);
    h.fake.failNext('usergroups.list', 'missing_scope', 20);
    for (let i = 0; i < 2; i++) await command(ALICE, '/ask', `question ${i}`);
    expect(await okAnswers(ALICE)).toBe(1);
    expect(h.app.logs.some((l) => l.msg === 'role lookup failed; the default tier and everyone rules apply' && l.user === ALICE)).toBe(true);
  });
});
