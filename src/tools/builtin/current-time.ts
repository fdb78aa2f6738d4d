import { z } from 'zod';
import { defineTool } from '../types.ts';

/** Formats an instant in an IANA time zone; throws a clear error for an unknown zone. */
export function formatTimeIn(now: Date, timeZone: string): { timeZone: string; iso: string; local: string } {
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      dateStyle: 'full',
      timeStyle: 'long',
    });
  } catch {
    throw new Error(`unknown time zone "${timeZone}"; use an IANA name such as Europe/Paris or America/New_York`);
  }
  return { timeZone: formatter.resolvedOptions().timeZone, iso: now.toISOString(), local: formatter.format(now) };
}

export const currentTimeTool = defineTool({
  name: 'current_time',
  description: 'The current date and time, in UTC or a given IANA time zone.',
  input: z.object({
    timeZone: z.string().optional().describe('IANA time zone such as Europe/Paris; UTC when left out'),
  }),
  execute({ timeZone }, ctx) {
    return formatTimeIn(ctx.now(), timeZone ?? 'UTC');
  },
});
