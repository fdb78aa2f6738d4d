/**
 * The App Home's spend chart: stacked bars of spend per UTC day by model for
 * the last 30 days, drawn as SVG here and rendered to PNG with resvg. resvg
 * draws text only with fonts it is given: the DejaVu TTF from the
 * dejavu-fonts-ttf package, never the system's fonts (the output is the same
 * on every host).
 */
import { createRequire } from 'node:module';
import { Resvg } from '@resvg/resvg-js';

export interface ChartInput {
  /** The days shown, oldest first (UTC midnights). */
  days: readonly Date[];
  /** Spend per day and model (days outside `days` are ignored). */
  spend: ReadonlyArray<{ day: Date; model: string; costUsd: number }>;
}

const WIDTH = 960;
const HEIGHT = 420;
const MARGIN = { top: 40, right: 24, bottom: 64, left: 72 };
/** Models beyond this many are summed as "other". */
const MAX_SERIES = 6;
const PALETTE = ['#1d3557', '#e63946', '#2a9d8f', '#f4a261', '#8d5fd3', '#457b9d', '#9e9e9e'];
const FONT_FILE = createRequire(import.meta.url).resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');

/** The series in the legend, most spend first, the rest folded into "other". */
export function chartSeries(input: ChartInput): { models: string[]; byDay: number[][] } {
  const totals = new Map<string, number>();
  for (const row of input.spend) totals.set(row.model, (totals.get(row.model) ?? 0) + row.costUsd);
  const ranked = [...totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([model]) => model);
  const shown = ranked.length > MAX_SERIES ? ranked.slice(0, MAX_SERIES - 1) : ranked;
  const models = ranked.length > shown.length ? [...shown, 'other'] : shown;
  const index = new Map(input.days.map((day, i) => [day.getTime(), i]));
  const byDay = input.days.map(() => models.map(() => 0));
  for (const row of input.spend) {
    const i = index.get(row.day.getTime());
    if (i === undefined) continue;
    const m = shown.includes(row.model) ? shown.indexOf(row.model) : models.length - 1;
    byDay[i]![m]! += row.costUsd;
  }
  return { models, byDay };
}

/** A ceiling for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((f) => f * power).find((v) => v >= value)!;
}

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
const usd = (value: number) => (value === 0 ? '$0' : value >= 1 ? `$${value.toFixed(value >= 100 ? 0 : 2)}` : `$${value.toFixed(value >= 0.1 ? 2 : 3)}`);

export function chartSvg(input: ChartInput): string {
  const { models, byDay } = chartSeries(input);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const max = niceMax(Math.max(0, ...byDay.map((day) => day.reduce((a, b) => a + b, 0))));
  const slot = plotW / Math.max(1, input.days.length);
  const barW = Math.max(2, slot * 0.7);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" fill="#222">Spend per day by model, last ${input.days.length} days (USD)</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (max * i) / 4;
    const y = MARGIN.top + plotH - (plotH * i) / 4;
    parts.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${WIDTH - MARGIN.right}" y2="${y}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${y + 4}" text-anchor="end" fill="#555">${escapeXml(usd(value))}</text>`);
  }
  byDay.forEach((day, i) => {
    let y = MARGIN.top + plotH;
    const x = MARGIN.left + i * slot + (slot - barW) / 2;
    day.forEach((cost, m) => {
      if (cost <= 0) return;
      const h = (cost / max) * plotH;
      y -= h;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[m % PALETTE.length]}"/>`);
    });
    if (i % 5 === 0 || i === input.days.length - 1) {
      const label = input.days[i]!.toISOString().slice(5, 10);
      parts.push(`<text x="${(MARGIN.left + i * slot + slot / 2).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle" fill="#555">${label}</text>`);
    }
  });
  parts.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${WIDTH - MARGIN.right}" y2="${MARGIN.top + plotH}" stroke="#888"/>`);
  let legendX = MARGIN.left;
  const legendY = HEIGHT - 18;
  models.forEach((model, m) => {
    const name = model.length > 28 ? `${model.slice(0, 27)}…` : model;
    parts.push(`<rect x="${legendX}" y="${legendY - 10}" width="12" height="12" fill="${PALETTE[m % PALETTE.length]}"/>`);
    parts.push(`<text x="${legendX + 16}" y="${legendY}" fill="#222">${escapeXml(name)}</text>`);
    legendX += 16 + name.length * 7 + 18;
  });
  if (models.length === 0) parts.push(`<text x="${WIDTH / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" fill="#888">No spend in these days</text>`);
  parts.push('</svg>');
  return parts.join('');
}

/** The chart as PNG bytes. */
export function renderChartPng(input: ChartInput): Buffer {
  const resvg = new Resvg(chartSvg(input), {
    font: { loadSystemFonts: false, fontFiles: [FONT_FILE], defaultFontFamily: 'DejaVu Sans' },
    background: '#ffffff',
  });
  return resvg.render().asPng();
}
