/**
 * The CSV report opened in a spreadsheet: ids that users choose (user ids,
 * model ids, workspace ids) never run as formulas, and our numbers stay numbers.
 * The real report, in-process, against a real SQLite file.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell, runUsageReport } from '../../src/ops/usage-report.ts';
import { createStore } from '../../src/store/index.ts';
import type { LedgerEntry } from '../../src/store/types.ts';

/** RFC 4180, as a spreadsheet reads it: quoted cells may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const endCell = () => {
    row.push(cell);
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted && ch === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (ch === '"') quoted = !quoted;
    else if (quoted) cell += ch;
    else if (ch === ',') endCell();
    else if (ch === '\n') {
      endCell();
      rows.push(row);
      row = [];
    } else cell += ch;
  }
  return rows;
}

const DANGEROUS = ['=HYPERLINK("http://evil.test","x")', '+1+2', '-2+3', '@SUM(A1:A9)', '\tU0TAB', '\rU0CR'];

describe('usage:report --format csv', () => {
  let dir: string;
  let url: string;

  const entry = (over: Partial<LedgerEntry>): LedgerEntry => ({
    requestId: randomUUID(),
    at: new Date('2026-11-10T12:00:00Z'),
    platform: 'slack',
    workspaceId: 'T1',
    channelId: 'C1',
    userId: 'U1',
    modelRequested: 'openai/gpt-4o-mini',
    modelAnswered: 'openai/gpt-4o-mini',
    tokensIn: 100,
    tokensOut: 20,
    costUsd: 0.01,
    generationId: null,
    outcome: 'ok',
    errorKind: null,
    ...over,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-report-csv-'));
    url = `sqlite:${join(dir, 'report.db')}`;
    const store = await createStore(url, { logger: pino({ level: 'silent' }) });
    await store.migrate();
    for (const [i, value] of DANGEROUS.entries()) {
      await store.settle(null, entry({ userId: value, workspaceId: `T${i}` }));
      await store.settle(null, entry({ userId: `U${i}`, workspaceId: `T${i}`, modelRequested: value, modelAnswered: value }));
      await store.settle(null, entry({ workspaceId: value }));
    }
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function csvReport(): Promise<string> {
    let out = '';
    let err = '';
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = url;
    try {
      const code = await runUsageReport(['--from', '2026-11-01', '--to', '2026-11-30', '--format', 'csv'], {
        stdout: (t) => (out += t),
        stderr: (t) => (err += t),
        envFile: join(dir, 'no.env'),
      });
      expect(err).toBe('');
      expect(code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    return out;
  }

  it('never writes a user, model or workspace id as a cell a spreadsheet would run as a formula', async () => {
    const [header, ...rows] = parseCsv(await csvReport());
    expect(header).toEqual(['platform', 'workspace', 'user', 'model', 'requests', 'tokens_in', 'tokens_out', 'cost_usd']);
    expect(rows).toHaveLength(DANGEROUS.length * 3);
    for (const row of rows) {
      for (const cell of row.slice(0, 4)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    }
    // Each dangerous id is still there, behind the apostrophe, in its own column.
    const column = (c: number) => rows.map((r) => r[c]!);
    for (const value of DANGEROUS) {
      expect(column(1)).toContain(`'${value}`);
      expect(column(2)).toContain(`'${value}`);
      expect(column(3)).toContain(`'${value}`);
    }
  });

  it('keeps the numeric columns plain numbers, never quoted or prefixed', async () => {
    const text = await csvReport();
    const [, ...rows] = parseCsv(text);
    for (const row of rows) {
      expect(row.slice(4, 7).every((n) => /^\d+$/.test(n))).toBe(true);
      expect(row[7]).toMatch(/^\d+\.\d{6}$/);
    }
    // In the raw text too: each line ends in four bare numbers.
    expect(text).toContain(',1,100,20,0.010000\n');
    expect(csvCell('-5', 'number')).toBe('-5');
    expect(csvCell('-5', 'text')).toBe("'-5");
  });
});
