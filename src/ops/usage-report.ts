/**
 * `npm run usage:report -- --from 2026-11-01 --to 2026-11-30 [--format csv|json|table]`:
 * the ledger between two UTC dates (both included), summed per platform,
 * workspace, user and model. Reads only DATABASE_URL. Refused requests cost
 * nothing and are left out, as in the quota totals.
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, databasePasswords, loadStoreConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { createStore } from '../store/index.ts';
import type { LedgerTotalsRow, Store } from '../store/types.ts';

export const REPORT_FORMATS = ['table', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportArgs {
  from: Date;
  /** Exclusive: the day after --to. */
  to: Date;
  format: ReportFormat;
}

export const REPORT_USAGE = 'Usage: npm run usage:report -- --from YYYY-MM-DD --to YYYY-MM-DD [--format table|csv|json]';

/** A mistake on the command line: printed with the usage line, exit code 2. */
export class ReportArgsError extends Error {}

function parseDate(flag: string, value: string | undefined): Date {
  if (value === undefined || value.startsWith('--')) throw new ReportArgsError(`${flag} needs a date, e.g. ${flag} 2026-11-01`);
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : undefined;
  // Date.UTC rolls 2026-02-30 over to March; a real date reads back the same.
  if (!date || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw new ReportArgsError(`${flag} "${value}" is not a date; write it as YYYY-MM-DD, e.g. 2026-11-01`);
  }
  return date;
}

export function parseReportArgs(argv: readonly string[]): ReportArgs {
  let from: Date | undefined;
  let to: Date | undefined;
  let format: ReportFormat = 'table';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--from') from = parseDate('--from', value());
    else if (flag === '--to') to = parseDate('--to', value());
    else if (flag === '--format') {
      const f = value();
      if (!(REPORT_FORMATS as readonly string[]).includes(f ?? '')) {
        throw new ReportArgsError(`--format must be one of ${REPORT_FORMATS.join(', ')}${f === undefined ? '' : ` (got "${f}")`}`);
      }
      format = f as ReportFormat;
    } else throw new ReportArgsError(`unknown argument "${arg}"`);
  }
  if (!from) throw new ReportArgsError('--from is required');
  if (!to) throw new ReportArgsError('--to is required');
  if (to < from) throw new ReportArgsError(`--to (${to.toISOString().slice(0, 10)}) is before --from (${from.toISOString().slice(0, 10)})`);
  return { from, to: new Date(to.getTime() + 86_400_000), format };
}

export interface ReportRow {
  platform: string;
  workspace: string;
  user: string;
  model: string;
  requests: number;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
}

export async function buildReport(store: Store, from: Date, to: Date): Promise<ReportRow[]> {
  const rows = await store.ledgerTotals({ from, to, groupBy: ['platform', 'workspaceId', 'userId', 'model'] });
  const toRow = (r: LedgerTotalsRow): ReportRow => ({
    platform: r.group.platform ?? '',
    workspace: r.group.workspaceId ?? '',
    user: r.group.userId ?? '',
    model: r.group.model ?? '',
    requests: r.requests,
    tokensIn: r.tokensIn,
    tokensOut: r.tokensOut,
    costUsd: r.costUsd,
  });
  // Grouped by user, then model: read per person, most expensive model first.
  return rows
    .map(toRow)
    .sort((a, b) => a.platform.localeCompare(b.platform) || a.workspace.localeCompare(b.workspace) || a.user.localeCompare(b.user) || b.costUsd - a.costUsd || a.model.localeCompare(b.model));
}

const COLUMNS = ['platform', 'workspace', 'user', 'model', 'requests', 'tokens_in', 'tokens_out', 'cost_usd'] as const;

/**
 * A spreadsheet runs a cell starting with one of these as a formula (OWASP CSV
 * injection), and user ids, model ids and workspace ids come from users.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: text that would run as a formula gets a leading `'`; quoted when it holds a separator. */
export function csvCell(value: string, kind: 'text' | 'number'): string {
  const safe = kind === 'text' && FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The first four columns are text from users; the rest are numbers we computed. */
const isTextColumn = (c: number) => c < 4;

function cells(row: ReportRow): string[] {
  return [row.platform, row.workspace, row.user, row.model, String(row.requests), String(row.tokensIn), String(row.tokensOut), row.costUsd.toFixed(6)];
}

function totalOf(rows: readonly ReportRow[]): Omit<ReportRow, 'platform' | 'workspace' | 'user' | 'model'> {
  return rows.reduce(
    (t, r) => ({ requests: t.requests + r.requests, tokensIn: t.tokensIn + r.tokensIn, tokensOut: t.tokensOut + r.tokensOut, costUsd: t.costUsd + r.costUsd }),
    { requests: 0, tokensIn: 0, tokensOut: 0, costUsd: 0 },
  );
}

export function formatReport(rows: readonly ReportRow[], args: ReportArgs): string {
  const fromText = args.from.toISOString().slice(0, 10);
  const toText = new Date(args.to.getTime() - 86_400_000).toISOString().slice(0, 10);
  const total = totalOf(rows);
  if (args.format === 'json') {
    return `${JSON.stringify({ from: fromText, to: toText, rows, total: { ...total, costUsd: Number(total.costUsd.toFixed(6)) } }, null, 2)}\n`;
  }
  if (args.format === 'csv') {
    const line = (r: ReportRow) => cells(r).map((v, c) => csvCell(v, isTextColumn(c) ? 'text' : 'number')).join(',');
    return [COLUMNS.join(','), ...rows.map(line)].join('\n') + '\n';
  }
  const title = `Usage ${fromText} to ${toText} (UTC, both days included)`;
  if (rows.length === 0) return `${title}\nNo usage in this period.\n`;
  const body = rows.map((r) => [...cells(r).slice(0, 7), `$${r.costUsd.toFixed(4)}`]);
  const footer = ['total', '', '', '', String(total.requests), String(total.tokensIn), String(total.tokensOut), `$${total.costUsd.toFixed(4)}`];
  const table = [[...COLUMNS], ...body, footer];
  const widths = COLUMNS.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => (!isTextColumn(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [title, '', line(table[0]!), rule, ...body.map(line), rule, line(footer)].join('\n') + '\n';
}

export interface ReportIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  envFile?: string;
}

/** The whole script; returns the exit code. */
export async function runUsageReport(argv: readonly string[], io: ReportIo): Promise<number> {
  let args: ReportArgs;
  try {
    args = parseReportArgs(argv);
  } catch (error) {
    if (!(error instanceof ReportArgsError)) throw error;
    io.stderr(`${error.message}\n${REPORT_USAGE}\n`);
    return 2;
  }
  let databaseUrl: string | undefined;
  try {
    databaseUrl = loadStoreConfig(io.envFile).databaseUrl;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${error.message}\n`);
    return 1;
  }
  const logger = createLogger({ level: 'warn', pretty: false, destination: process.stderr, secrets: databasePasswords(databaseUrl) });
  let store: Store;
  try {
    store = await createStore(databaseUrl, { logger });
  } catch (error) {
    io.stderr(`Cannot open the store: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    // Migrating is idempotent; it also lets the report run on a fresh database.
    await store.migrate();
    io.stdout(formatReport(await buildReport(store, args.from, args.to), args));
    return 0;
  } catch (error) {
    io.stderr(`The report failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runUsageReport(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`usage:report stopped: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
