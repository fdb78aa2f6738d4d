/**
 * The App Home as Block Kit, from the core's Dashboard: everyone's own usage
 * against their limits and their last answers; for admins the workspace's
 * month against its budget, top users and models, channels with settings of
 * their own, and the spend chart (an image of a file we uploaded) with the
 * same numbers as text beside it. Within views.publish's limits: at most 100
 * blocks, section text under 3,000 characters, header text under 150.
 */
import type { types } from '@slack/bolt';
import { formatTokens } from '../../../core/answer-view.ts';
import type { Dashboard, WorkspaceDashboard } from '../../../core/dashboard.ts';
import { formatAmount, formatUsd } from '../../../core/quota.ts';
import type { LedgerTotalsRow } from '../../../core/store-types.ts';
import { SECTION_LIMIT, splitMrkdwn } from '../blocks.ts';
import { escapeMrkdwn } from '../mrkdwn.ts';

export const MAX_HOME_BLOCKS = 100;
const HEADER_LIMIT = 150;

const LIMIT_LABELS = {
  'requests-per-day': ['Requests today', (u: Dashboard['personal']['usage']) => u.day.requests],
  'tokens-per-day': ['Tokens today', (u: Dashboard['personal']['usage']) => u.day.tokens],
  'usd-per-day': ['Spent today', (u: Dashboard['personal']['usage']) => u.day.usd],
  'usd-per-month': ['Spent this month', (u: Dashboard['personal']['usage']) => u.month.usd],
} as const;

const header = (text: string): types.HeaderBlock => ({ type: 'header', text: { type: 'plain_text', text: text.slice(0, HEADER_LIMIT), emoji: true } });
const sections = (mrkdwn: string): types.SectionBlock[] =>
  splitMrkdwn(mrkdwn.trim() === '' ? '_none_' : mrkdwn, SECTION_LIMIT).map((piece) => ({ type: 'section', text: { type: 'mrkdwn', text: piece } }));
const code = (text: string) => `\`${escapeMrkdwn(text).replace(/`/g, "'")}\``;

export function homeBlocks(dashboard: Dashboard, chart: { fileId: string } | undefined): types.KnownBlock[] {
  const { personal } = dashboard;
  const blocks: types.KnownBlock[] = [header('Your usage')];
  const usageLines = personal.limits.map((view) => {
    const [label, used] = LIMIT_LABELS[view.limit];
    const amount = formatAmount(view.limit, used(personal.usage));
    return view.value === null ? `*${label}:* ${amount} (no limit)` : `*${label}:* ${amount} of ${formatAmount(view.limit, view.value)}`;
  });
  blocks.push(...sections(usageLines.join('\n')));
  blocks.push(header('Your last answers'));
  const answers = personal.lastAnswers.map(
    (row) =>
      `• ${row.at.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${code(row.modelAnswered ?? row.modelRequested)} · ${formatTokens(row.tokensIn + row.tokensOut)} tokens · ${formatUsd(row.costUsd)}${row.outcome === 'ok' ? '' : ` · ${row.outcome}`}`,
  );
  blocks.push(...sections(answers.length > 0 ? answers.join('\n') : '_No answers yet: mention me in a channel or open my assistant view._'));
  if (dashboard.workspace) blocks.push({ type: 'divider' }, ...workspaceBlocks(dashboard.workspace, chart));
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Updated ${dashboard.at.toISOString().slice(0, 16).replace('T', ' ')} UTC (UTC days and months).` }] });
  // The chart's text twin is the only part that grows with data; it goes last among the admin's blocks, so cutting keeps the rest.
  return blocks.length > MAX_HOME_BLOCKS ? [...blocks.slice(0, MAX_HOME_BLOCKS - 1), blocks.at(-1)!] : blocks;
}

function workspaceBlocks(workspace: WorkspaceDashboard, chart: { fileId: string } | undefined): types.KnownBlock[] {
  const budget =
    workspace.budgetUsd === null
      ? `${formatUsd(workspace.monthUsd)} (no budget set)`
      : `${formatUsd(workspace.monthUsd)} of ${formatUsd(workspace.budgetUsd)} (${workspace.budgetUsd > 0 ? Math.round((100 * workspace.monthUsd) / workspace.budgetUsd) : 100}%)`;
  const top = (rows: readonly LedgerTotalsRow[], label: (row: LedgerTotalsRow) => string) =>
    rows.map((row, i) => `${i + 1}. ${label(row)}: ${formatUsd(row.costUsd)} · ${row.requests} request${row.requests === 1 ? '' : 's'}`).join('\n');
  const channels = workspace.channelsWithSettings.map((c) => `• <#${c.channelId}>: ${c.keys.map((k) => code(k)).join(', ')}`).join('\n');
  const blocks: types.KnownBlock[] = [
    header('Workspace (admins)'),
    ...sections(`*Spent this month:* ${budget} · ${workspace.monthRequests} request${workspace.monthRequests === 1 ? '' : 's'}`),
    ...sections(`*Top users this month*\n${top(workspace.topUsers, (row) => `<@${row.group.userId ?? ''}>`) || '_none_'}`),
    ...sections(`*Top models this month*\n${top(workspace.topModels, (row) => code(row.group.model ?? '?')) || '_none_'}`),
    ...sections(`*Channels with their own settings*\n${channels || '_none: every channel uses the workspace settings_'}`),
  ];
  if (chart) {
    blocks.push({
      type: 'image',
      slack_file: { id: chart.fileId },
      alt_text: `Spend per day by model for the last ${workspace.days.length} days; the same numbers are listed below.`,
      title: { type: 'plain_text', text: `Spend per day, last ${workspace.days.length} days` },
    });
  }
  blocks.push(...sections(`*Spend per day (UTC), last ${workspace.days.length} days*\n${dailyLines(workspace).join('\n') || '_no spend_'}`));
  return blocks;
}

/** The chart's numbers as text, for screen readers: one line per day with spend. */
export function dailyLines(workspace: WorkspaceDashboard): string[] {
  const byDay = new Map<number, Array<{ model: string; costUsd: number }>>();
  for (const row of workspace.dailySpend) byDay.set(row.day.getTime(), [...(byDay.get(row.day.getTime()) ?? []), row]);
  return workspace.days.flatMap((day) => {
    const rows = (byDay.get(day.getTime()) ?? []).filter((row) => row.costUsd > 0);
    if (rows.length === 0) return [];
    const total = rows.reduce((sum, row) => sum + row.costUsd, 0);
    return [`${day.toISOString().slice(0, 10)}: ${formatUsd(total)} (${rows.map((row) => `${code(row.model)} ${formatUsd(row.costUsd)}`).join(', ')})`];
  });
}
