import { describe, expect, it } from 'vitest';
import { checkServerLimit, checkUserLimits, utcWindows } from '../../src/store/quota.ts';

const zero = { requests: 0, tokens: 0, usd: 0 };

describe('utcWindows', () => {
  it('gives UTC day and month bounds whatever the local time zone', () => {
    expect(utcWindows(new Date('2024-02-29T23:59:59.999Z'))).toEqual({
      dayStart: Date.parse('2024-02-29T00:00:00Z'),
      dayEnd: Date.parse('2024-03-01T00:00:00Z'),
      monthStart: Date.parse('2024-02-01T00:00:00Z'),
      monthEnd: Date.parse('2024-03-01T00:00:00Z'),
    });
    expect(utcWindows(new Date('2023-12-31T23:00:00Z')).monthEnd).toBe(Date.parse('2024-01-01T00:00:00Z'));
    expect(utcWindows(new Date('2024-03-01T00:00:00Z')).dayStart).toBe(Date.parse('2024-03-01T00:00:00Z'));
  });
});

describe('checkUserLimits', () => {
  const windows = utcWindows(new Date('2024-05-15T12:00:00Z'));

  it('adds live reservations to settled usage', () => {
    const usage = { day: { requests: 2, tokens: 10, usd: 1 }, month: { requests: 9, tokens: 90, usd: 4 }, live: { requests: 1, tokens: 5, usd: 0.5 } };
    expect(checkUserLimits(usage, { requestsPerDay: 3 }, { tokens: 0, usd: 0 }, windows)).toMatchObject({
      limit: 'requests-per-day',
      used: 3,
    });
    expect(checkUserLimits(usage, { tokensPerDay: 20 }, { tokens: 6, usd: 0 }, windows)).toMatchObject({
      limit: 'tokens-per-day',
      used: 15,
    });
    expect(checkUserLimits(usage, { usdPerMonth: 5 }, { tokens: 0, usd: 0.6 }, windows)).toMatchObject({
      limit: 'usd-per-month',
      used: 4.5,
    });
    expect(checkUserLimits(usage, { usdPerMonth: 5 }, { tokens: 0, usd: 0.5 }, windows)).toBeUndefined();
  });

  it('treats exactly reaching a dollar limit as allowed despite float drift', () => {
    const usage = { day: { ...zero, usd: 0.1 + 0.2 }, month: zero, live: zero };
    expect(checkUserLimits(usage, { usdPerDay: 0.4 }, { tokens: 0, usd: 0.1 }, windows)).toBeUndefined();
  });

  it('checks the server budget separately', () => {
    expect(checkServerLimit(9.5, { serverUsdPerMonth: 10 }, 0.5, windows)).toBeUndefined();
    expect(checkServerLimit(9.5, { serverUsdPerMonth: 10 }, 0.51, windows)).toMatchObject({
      limit: 'server-usd-per-month',
      resetsAt: new Date('2024-06-01T00:00:00Z'),
    });
    expect(checkServerLimit(1e9, { serverUsdPerMonth: null }, 1, windows)).toBeUndefined();
  });
});
