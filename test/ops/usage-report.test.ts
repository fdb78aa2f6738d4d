/**
 * npm run usage:report: argument errors, the three formats, in-process on a
 * SQLite file, and once as the real script.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.ts';
import type { LedgerEntry } from '../../src/store/types.ts';
import { entryArgs } from '../helpers/entry-point.ts';
import { formatReport, parseReportArgs, runUsageReport, type ReportRow } from '../../src/ops/usage-report.ts';


describe('parseReportArgs', () => {
  it('reads --from, --to (inclusive) and --format', () => {
    expect(parseReportArgs(['--from', '2026-11-01', '--to', '2026-11-30', '--format', 'csv'])).toEqual({
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
      format: 'csv',
    });
    expect(parseReportArgs(['--from=2026-11-01', '--to=2026-11-01']).format).toBe('table');
  });

  it.each([
    [['--to', '2026-11-30'], '--from is required'],
    [['--from', '2026-11-01'], '--to is required'],
    [['--from', '2026-02-30', '--to', '2026-03-01'], '--from "2026-02-30" is not a date; write it as YYYY-MM-DD'],
    [['--from', '11/01/2026', '--to', '2026-11-30'], '--from "11/01/2026" is not a date'],
    [['--from', '--to', '2026-11-30'], '--from needs a date'],
    [['--from', '2026-11-30', '--to', '2026-11-01'], '--to (2026-11-01) is before --from (2026-11-30)'],
    [['--from', '2026-11-01', '--to', '2026-11-30', '--format', 'xml'], '--format must be one of table, csv, json (got "xml")'],
    [['--from', '2026-11-01', '--to', '2026-11-30', '--verbose'], 'unknown argument "--verbose"'],
  ])('refuses %j with a clear message', (argv, message) => {
    expect(() => parseReportArgs(argv)).toThrow(message);
  });
});

describe('formatReport', () => {
  const args = parseReportArgs(['--from', '2026-11-01', '--to', '2026-11-30']);
  const rows: ReportRow[] = [
    { platform: 'slack', workspace: 'T1', user: 'U1', model: 'a/b', requests: 2, tokensIn: 10, tokensOut: 5, costUsd: 0.5 },
    { platform: 'slack', workspace: 'T1', user: 'U2', model: 'c/"d",e', requests: 1, tokensIn: 1, tokensOut: 1, costUsd: 0.25 },
  ];
  it('writes CSV with quoting', () => {
    expect(formatReport(rows, { ...args, format: 'csv' })).toBe(
      'platform,workspace,user,model,requests,tokens_in,tokens_out,cost_usd\nslack,T1,U1,a/b,2,10,5,0.500000\nslack,T1,U2,"c/""d"",e",1,1,1,0.250000\n',
    );
  });
  it('writes JSON with a total', () => {
    expect(JSON.parse(formatReport(rows, { ...args, format: 'json' }))).toEqual({
      from: '2026-11-01',
      to: '2026-11-30',
      rows,
      total: { requests: 3, tokensIn: 11, tokensOut: 6, costUsd: 0.75 },
    });
  });
  it('writes an aligned table with a total line', () => {
    const lines = formatReport(rows, args).split('\n');
    expect(lines[0]).toBe('Usage 2026-11-01 to 2026-11-30 (UTC, both days included)');
    expect(lines[2]).toMatch(/^platform\s+workspace\s+user\s+model\s+requests\s+tokens_in\s+tokens_out\s+cost_usd$/);
    expect(lines.at(-2)).toMatch(/^total\s+3\s+11\s+6\s+\$0\.7500$/);
    expect(formatReport([], args)).toContain('No usage in this period.');
  });
});

describe('the script', () => {
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
    dir = mkdtempSync(join(tmpdir(), 'sb-report-'));
    url = `sqlite:${join(dir, 'report.db')}`;
    const store = await createStore(url, { logger: pino({ level: 'silent' }) });
    await store.migrate();
    for (const e of [
      entry({}),
      entry({ costUsd: 0.02 }),
      entry({ modelAnswered: 'anthropic/claude-3.5-sonnet', costUsd: 0.5 }),
      entry({ userId: 'U2', at: new Date('2026-11-30T23:59:59Z') }),
      entry({ userId: 'U3', at: new Date('2026-12-01T00:00:00Z') }),
      entry({ userId: 'U4', at: new Date('2026-10-31T23:59:59Z') }),
      entry({ userId: 'U1', outcome: 'refused', costUsd: 0, errorKind: 'quota' }),
    ]) {
      await store.settle(null, e);
    }
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('groups the period by user and model (in-process)', async () => {
    let out = '';
    let err = '';
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = url;
    try {
      const code = await runUsageReport(['--from', '2026-11-01', '--to', '2026-11-30', '--format', 'json'], {
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
    const report = JSON.parse(out) as { rows: ReportRow[]; total: { requests: number } };
    expect(report.rows.map((r) => [r.user, r.model, r.requests, r.costUsd])).toEqual([
      ['U1', 'anthropic/claude-3.5-sonnet', 1, 0.5],
      ['U1', 'openai/gpt-4o-mini', 2, 0.03],
      ['U2', 'openai/gpt-4o-mini', 1, 0.01],
    ]);
    expect(report.total.requests).toBe(4);
  });

  it('runs as npm run usage:report does, and exits 2 with the usage line on a bad date', async () => {
    const run = (argv: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise, reject) => {
        const child = spawn(process.execPath, entryArgs('src/ops/usage-report.ts', ...argv), {
          cwd: dir,
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: url },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
      });
    const [ok, bad] = await Promise.all([
      run(['--from', '2026-11-01', '--to', '2026-11-30', '--format', 'csv']),
      run(['--from', '2026-13-01', '--to', '2026-11-30']),
    ]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe('platform,workspace,user,model,requests,tokens_in,tokens_out,cost_usd');
    expect(ok.stdout).toContain('slack,T1,U2,openai/gpt-4o-mini,1,100,20,0.010000');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from "2026-13-01" is not a date');
    expect(bad.stderr).toContain('Usage: npm run usage:report');
    expect(bad.stdout).toBe('');
  });
});
