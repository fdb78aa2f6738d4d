/**
 * /usage top on a real core, /usage and /usage <user> still working, and how
 * the typed command line (Slack, terminal) maps onto them.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/core/parse-command-line.ts';
import type { LedgerEntry } from '../../src/store/types.ts';
import { periodWindow } from '../../commands/usage.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.close();
});

const admin = { id: 'u0', name: 'Admin', admin: true };
const ada = { id: 'u1', name: 'Ada' };

function entry(over: Partial<LedgerEntry>): LedgerEntry {
  return {
    requestId: randomUUID(),
    at: new Date(),
    platform: 'test',
    workspaceId: 'w1',
    channelId: 'c1',
    userId: 'u1',
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini',
    tokensIn: 100,
    tokensOut: 50,
    costUsd: 0.1,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
    ...over,
  };
}

describe('/usage top', () => {
  it('lists the top users, models and channels by cost for the month, to admins only', async () => {
    const now = new Date();
    const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 1000);
    for (const e of [
      entry({ userId: 'u1', costUsd: 0.5, channelId: 'c1' }),
      entry({ userId: 'u1', costUsd: 0.25, channelId: 'c2', modelAnswered: 'anthropic/claude-3.5-sonnet' }),
      entry({ userId: 'u2', costUsd: 2, channelId: 'c2', modelAnswered: 'anthropic/claude-3.5-sonnet' }),
      entry({ userId: 'u3', costUsd: 99, at: lastMonth }),
      entry({ userId: 'u4', costUsd: 50, workspaceId: 'w2' }),
      entry({ userId: 'u5', outcome: 'refused', costUsd: 0, errorKind: 'quota' }),
    ]) {
      await t.core.store.settle(null, e);
    }
    const h = createHarness(t.core);
    await h.run(ada, 'usage', undefined, { user: 'top' });
    expect(h.lastReply()).toContain('Only admins can use `/usage top`');

    await h.run(admin, 'usage', undefined, { user: 'top' });
    const text = h.lastReply();
    expect(text).toContain(`Top spenders this month** (${periodWindow('month', now).label}, UTC)`);
    expect(text).toContain('Total: $2.75 · 3 requests');
    const section = (title: string) => text.split(`**${title}**\n`)[1]!.split('\n\n')[0]!.split('\n');
    expect(section('Users')).toEqual([
      expect.stringMatching(/^1\. User u2 \(u2\): \$2\.00 · 1 request · 150 tokens$/),
      expect.stringMatching(/^2\. User u1 \(u1\): \$0\.75 · 2 requests · 300 tokens$/),
    ]);
    expect(section('Models')).toEqual([
      '1. `anthropic/claude-3.5-sonnet`: $2.25 · 2 requests · 300 tokens',
      '2. `openai/gpt-4o-mini`: $0.50 · 1 request · 150 tokens',
    ]);
    expect(section('Channels')[0]).toBe('1. `c2`: $2.25 · 2 requests · 300 tokens');
    expect(text).not.toContain('u3');
    expect(text).not.toContain('u4');
    expect(h.replies.at(-1)?.ephemeral).toBe(true);
  });

  it('takes day or month, and says when there is nothing yet', async () => {
    const yesterday = new Date(Date.now() - 86_400_000);
    const h = createHarness(t.core);
    await h.run(admin, 'usage', undefined, { user: 'top', period: 'day' });
    expect(h.lastReply()).toContain('No usage yet.');
    await t.core.store.settle(null, entry({ userId: 'u9', costUsd: 1, at: yesterday }));
    await t.core.store.settle(null, entry({ userId: 'u8', costUsd: 0.01 }));
    await h.run(admin, 'usage', undefined, { user: 'TOP', period: 'day' });
    expect(h.lastReply()).toContain('Top spenders today');
    expect(h.lastReply()).toContain('User u8');
    expect(h.lastReply()).not.toContain('u9');
  });

  it('keeps /usage and /usage <user> working, and refuses a period without top', async () => {
    const h = createHarness(t.core);
    await h.run(ada, 'usage', undefined, {});
    expect(h.lastReply()).toContain('**Your usage**');
    await h.run(admin, 'usage', undefined, { user: '<@u1>' });
    expect(h.lastReply()).toContain('**Usage of User u1**');
    await h.run(admin, 'usage', undefined, { user: 'u1', period: 'day' });
    expect(h.lastReply()).toContain('`period` goes with `top`');
  });

  it('parses typed command lines (Slack, terminal) onto the same options', () => {
    const parse = (line: string) => {
      const parsed = parseCommandLine(line, t.core.commands);
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.options;
    };
    expect(parse('/usage')).toEqual({});
    expect(parse('/usage <@U123|bob>')).toEqual({ user: '<@U123|bob>' });
    expect(parse('/usage top')).toEqual({ user: 'top' });
    expect(parse('/usage top day')).toEqual({ user: 'top', period: 'day' });
    expect(parse('/usage top month')).toEqual({ user: 'top', period: 'month' });
  });
});

describe('periodWindow', () => {
  it('gives the UTC day and month around a time', () => {
    const at = new Date('2026-11-30T23:30:00Z');
    expect(periodWindow('day', at)).toEqual({ from: new Date('2026-11-30T00:00:00Z'), to: new Date('2026-12-01T00:00:00Z'), label: '2026-11-30' });
    expect(periodWindow('month', at)).toEqual({ from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-12-01T00:00:00Z'), label: '2026-11' });
    expect(periodWindow('month', new Date('2026-12-31T10:00:00Z')).to).toEqual(new Date('2027-01-01T00:00:00Z'));
  });
});
