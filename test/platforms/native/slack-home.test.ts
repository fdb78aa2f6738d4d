/**
 * The App Home through the real Bolt app: a user's own usage and last answers;
 * an admin's workspace view with the spend chart, a real PNG uploaded with
 * files.uploadV2 (size and pixels checked with sharp), its numbers as text,
 * within views.publish's limits (the fake checks every block); bursts of
 * opens are coalesced.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../../src/store/types.ts';
import { extendFakeSlack, type NativeSlack } from '../../fakes/slack-native.ts';
import { ALICE, BOB, CHANNEL, startHarness, WORKSPACE_ADMIN, type Harness } from '../slack/harness.ts';

const DAY = 86_400_000;
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function entry(harness: Harness, over: Partial<LedgerEntry>): LedgerEntry {
  return {
    requestId: randomUUID(),
    at: new Date(harness.clock.now()),
    platform: 'slack',
    workspaceId: harness.fake.teamId,
    channelId: CHANNEL,
    userId: ALICE,
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini',
    tokensIn: 1000,
    tokensOut: 500,
    costUsd: 0.25,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
    ...over,
  };
}

async function seeded(): Promise<{ h: Harness; native: NativeSlack }> {
  h = await startHarness({ env: { QUOTA_DEFAULT_USD_PER_MONTH: '10', QUOTA_SERVER_USD_PER_MONTH: '100' } });
  const native = extendFakeSlack(h.fake);
  const now = h.clock.now();
  for (let i = 0; i < 7; i++) await h.app.core.store.settle(null, entry(h, { at: new Date(now - i * 60_000), costUsd: 0.01 * (i + 1) }));
  await h.app.core.store.settle(null, entry(h, { at: new Date(now - 3 * DAY), userId: BOB, modelAnswered: 'anthropic/claude-3.5-sonnet', costUsd: 1.5 }));
  await h.app.core.store.settle(null, entry(h, { at: new Date(now - 10 * DAY), costUsd: 2 }));
  await h.app.core.store.settle(null, entry(h, { at: new Date(now - 40 * DAY), costUsd: 50 }));
  await h.app.core.store.setSetting({ platform: 'slack', kind: 'channel', id: `${h.fake.teamId}/${CHANNEL}` }, 'model', 'anthropic/claude-3.5-sonnet');
  return { h, native };
}

const texts = (blocks: Array<Record<string, unknown>>) =>
  blocks.map((b) => [(b.text as { text?: string } | undefined)?.text ?? '', ...((b.elements as Array<{ text?: string }> | undefined) ?? []).map((e) => e.text ?? '')].join(' ')).join('\n');

describe('Slack App Home', () => {
  it("shows a user their own usage against their limits and their last five answers, and nothing of the workspace's", async () => {
    const { h, native } = await seeded();
    await native.homeOpened({ user: ALICE });
    await h.adapter.idle();
    expect(native.views).toHaveLength(1);
    const { userId, view } = native.views[0]!;
    expect(userId).toBe(ALICE);
    const text = texts(view.blocks);
    expect(text).toContain('Spent this month:* $');
    expect(text).toContain('of $10.00');
    expect(text.match(/^• .* UTC · `openai\/gpt-4o-mini` · 1,500 tokens · \$/gm)).toHaveLength(5);
    expect(text).not.toContain('Workspace (admins)');
    expect(view.blocks.some((b) => b.type === 'image')).toBe(false);
    expect(native.files.size).toBe(0);
    expect(h.fake.violations).toEqual([]);
  });

  it('shows an admin the workspace: budget, top users and models, channels with settings, and the spend chart as a PNG and as text', async () => {
    const { h, native } = await seeded();
    await native.homeOpened({ user: WORKSPACE_ADMIN });
    await h.adapter.idle();
    const { view } = native.views.at(-1)!;
    const text = texts(view.blocks);
    expect(text).toContain('Workspace (admins)');
    expect(text).toMatch(/Spent this month:\* \$\d+\.\d\d of \$100\.00/);
    expect(text).toContain(`<@${ALICE}>`);
    expect(text).toContain('`anthropic/claude-3.5-sonnet`');
    expect(text).toContain(`<#${CHANNEL}>: \`model\``);
    const threeDaysAgo = new Date(Math.floor((h.clock.now() - 3 * DAY) / DAY) * DAY).toISOString().slice(0, 10);
    expect(text).toContain(`${threeDaysAgo}: $1.50 (\`anthropic/claude-3.5-sonnet\` $1.50)`);
    // 40 days ago is outside the chart.
    expect(text).not.toContain('$50');

    const image = view.blocks.find((b) => b.type === 'image')!;
    const fileId = (image.slack_file as { id: string }).id;
    const file = native.files.get(fileId)!;
    expect(file.completed).toBe(true);
    const png = file.bytes!;
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const meta = await sharp(png).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 960, height: 420 });
    const stats = await sharp(png).stats();
    // Not a blank picture: bars, axes and text make the channels vary.
    expect(stats.channels.slice(0, 3).every((channel) => channel.stdev > 5)).toBe(true);
    expect(stats.isOpaque).toBe(true);
    expect(view.blocks.length).toBeLessThanOrEqual(100);

    // Opened again with the same numbers: the chart is not uploaded again.
    await native.homeOpened({ user: WORKSPACE_ADMIN });
    await h.adapter.idle();
    expect(native.files.size).toBe(1);
    expect(native.views).toHaveLength(2);
    expect(h.fake.violations).toEqual([]);
  });

  it('folds a burst of opens into at most two publishes', async () => {
    const { h, native } = await seeded();
    const hold = h.fake.holdNext('views.publish');
    await native.homeOpened({ user: ALICE });
    await hold.arrived;
    for (let i = 0; i < 5; i++) await native.homeOpened({ user: ALICE });
    hold.release();
    await h.adapter.idle();
    expect(native.views.filter((v) => v.userId === ALICE)).toHaveLength(2);
  });
});
