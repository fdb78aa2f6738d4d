/**
 * Discord roles as quota tiers through the real discord.js: the asker's roles
 * come with the interaction (or message), tiers are set by role name, and
 * /quota show names the tier that applies.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeRole } from '../../fakes/discord-world.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
let staff: FakeRole;
let general: string;

beforeAll(async () => {
  h = await startHarness({
    env: { QUOTA_MAX_CONCURRENT: '50', DEFAULT_TOOLS: '' },
    setup: (fake) => {
      staff = fake.addRole('Staff', [fake.users.alice]);
      fake.addRole('Guests', [fake.users.alice, fake.users.carol]);
    },
  });
  general = h.fake.channels.general.id;
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.violations.length = 0;
});

const lastEphemeral = (userId: string) => h.fake.ephemeralFor(userId).at(-1)?.content;

async function quota(options: Record<string, string>, subcommand = 'set'): Promise<string | undefined> {
  const { bob } = h.fake.users;
  await h.fake.runCommand({ user: bob, channelId: general, name: 'quota', subcommand, options });
  await h.adapter.idle();
  return lastEphemeral(bob.id);
}

async function ask(user: { id: string; username: string }, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await h.fake.runCommand({ user: user as never, channelId: general, name: 'ask', options: { prompt: `question ${i}` } });
    await h.adapter.idle();
  }
}

describe('Discord roles as quota tiers', () => {
  it('a tier set by role name applies to its members (the most generous of theirs), the default to others', async () => {
    expect(await quota({ target: 'default', limit: 'requests-per-day', value: '1' })).toBe('`requests-per-day` for everyone (default) is now 1.');
    expect(await quota({ target: 'role:staff', limit: 'requests-per-day', value: '3' })).toBe('`requests-per-day` for the role Staff is now 3.');
    expect(await quota({ target: `role:<@&${staff.id}>`, limit: 'usd-per-day', value: '2' })).toBe('`usd-per-day` for the role Staff is now $2.00.');
    expect(await quota({ target: 'role:Guests', limit: 'requests-per-day', value: '2' })).toBe('`requests-per-day` for the role Guests is now 2.');
    expect(await quota({ target: 'role:Nobody', limit: 'requests-per-day', value: '2' })).toContain('There is no role `Nobody` here');
    expect(await quota({ target: 'role:@everyone', limit: 'requests-per-day', value: '2' })).toContain('There is no role `@everyone` here');

    const { alice, carol } = h.fake.users;
    await ask(alice, 4);
    await ask(carol, 3);
    const rows = await h.app.core.store.ledger({});
    const ok = (userId: string) => rows.filter((r) => r.userId === userId && r.outcome === 'ok').length;
    expect(ok(alice.id)).toBe(3);
    expect(ok(carol.id)).toBe(2);
    expect(rows.filter((r) => r.outcome === 'refused').map((r) => r.userId).sort()).toEqual([alice.id, carol.id].sort());

    const shown = await quota({ user: `<@${alice.id}>` }, 'show');
    expect(shown).toContain('Roles with a tier: Staff, Guests.');
    expect(shown).toContain("`requests-per-day`: 3 _(tier of the role Staff: the most generous of their roles' tiers)_");
    const tiers = await quota({}, 'show');
    expect(tiers).toContain('role:Guests: `requests-per-day` 2');
    expect(tiers).toContain('role:Staff: `requests-per-day` 3, `usd-per-day` $2.00');
    expect(h.fake.violations).toEqual([]);
  });
});
