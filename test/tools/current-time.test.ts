import { describe, expect, it } from 'vitest';
import { formatTimeIn } from '../../src/tools/builtin/current-time.ts';

describe('current_time', () => {
  const now = new Date('2026-11-24T10:30:00Z');

  it('formats UTC and other zones', () => {
    expect(formatTimeIn(now, 'UTC')).toMatchObject({ timeZone: 'UTC', iso: '2026-11-24T10:30:00.000Z' });
    expect(formatTimeIn(now, 'UTC').local).toContain('10:30:00');
    expect(formatTimeIn(now, 'Asia/Tokyo').local).toContain('19:30:00');
    expect(formatTimeIn(now, 'America/New_York').local).toContain('05:30:00');
  });

  it('explains an unknown zone', () => {
    expect(() => formatTimeIn(now, 'Mars/Olympus')).toThrow(/unknown time zone "Mars\/Olympus"/);
  });
});
