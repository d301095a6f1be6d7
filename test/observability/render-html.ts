/**
 * Draws evaluated dashboards as HTML with inline SVG charts laid out on Grafana's 24-column grid
 * (time series as lines, stat panels as their last value), for headless Chromium to screenshot.
 * Not Grafana: a faithful enough picture of what each panel shows with the same data.
 */
import type { DashboardJson, EvaluatedPanel, Series } from './stack.ts';

const palette = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#ffcb7d', '#96d98d', '#ca95e5'];
const columnPx = 64;
const rowPx = 34;

const escapeHtml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function scaled(value: number, steps: readonly [number, string][], digits = 1): string {
  let chosen: [number, string] = steps[0] ?? [1, ''];
  for (const step of steps) if (Math.abs(value) >= step[0]) chosen = step;
  return `${(value / chosen[0]).toFixed(digits).replace(/\.0+$/, '')}${chosen[1]}`;
}

/** A value as Grafana would print it in `unit`. */
export function formatValue(value: number, unit: string, mappings: Readonly<Record<string, string>> = {}): string {
  const mapped = mappings[String(value)];
  if (mapped !== undefined) return mapped;
  if (!Number.isFinite(value)) return 'NaN';
  switch (unit) {
    case 'bytes':
      return scaled(value, [[1, ' B'], [1024, ' KiB'], [1024 ** 2, ' MiB'], [1024 ** 3, ' GiB'], [1024 ** 4, ' TiB']]);
    case 'Bps':
      return `${scaled(value, [[1, ' B'], [1024, ' KiB'], [1024 ** 2, ' MiB'], [1024 ** 3, ' GiB']])}/s`;
    case 's':
      return value === 0 ? '0 s' : scaled(value, [[0.000001, ' µs'], [0.001, ' ms'], [1, ' s'], [60, ' min']]);
    case 'ops':
      return `${scaled(value, [[1, ''], [1000, 'K'], [1e6, 'M']], Math.abs(value) < 10 ? 2 : 1)} ops/s`;
    case 'percentunit':
      return `${(value * 100).toFixed(1)}%`;
    case 'dateTimeFromNow': {
      const ago = (Date.now() - value) / 1000;
      return ago < 60 ? 'just now' : `${scaled(ago, [[1, ' s'], [60, ' min'], [3600, ' h'], [86400, ' d']])} ago`;
    }
    default:
      return scaled(value, [[1, ''], [1000, 'K'], [1e6, 'M'], [1e9, 'G']], Math.abs(value) < 10 ? 2 : 1);
  }
}

function legendOf(format: string, metric: Readonly<Record<string, string>>): string {
  const text = format.replace(/\{\{\s*([a-zA-Z_]+)\s*\}\}/g, (_, label: string) => metric[label] ?? '');
  return text === '' ? JSON.stringify(metric) : text;
}

interface Line {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

function linesOf(panel: EvaluatedPanel): Line[] {
  return panel.targets.flatMap((target) =>
    target.series.map((series: Series) => ({
      name: legendOf(target.legendFormat, series.metric),
      points: series.values.map(([t, v]) => [t, Number(v)] as const).filter(([, v]) => Number.isFinite(v)),
    })),
  );
}

function chartSvg(lines: readonly Line[], width: number, height: number, unit: string, range: { from: number; to: number }): string {
  const values = lines.flatMap((line) => line.points.map(([, v]) => v));
  const top = Math.max(...values, 0);
  const bottom = Math.min(...values, 0);
  const span = top - bottom || 1;
  const left = 64;
  const plotW = width - left - 8;
  const plotH = height - 18;
  const x = (t: number): number => left + ((t - range.from) / (range.to - range.from || 1)) * plotW;
  const y = (v: number): number => 4 + plotH - ((v - bottom) / span) * plotH;
  const grid = [0, 0.5, 1].map((f) => {
    const v = bottom + f * span;
    return `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#2c3235"/><text x="${left - 4}" y="${y(v) + 4}" fill="#8e8e8e" font-size="10" text-anchor="end">${escapeHtml(formatValue(v, unit))}</text>`;
  });
  const paths = lines.map((line, i) => {
    if (line.points.length === 0) return '';
    const d = line.points.map(([t, v], j) => `${j === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<path d="${d}" fill="none" stroke="${palette[i % palette.length] ?? '#73bf69'}" stroke-width="1.5"/>`;
  });
  const empty = values.length === 0 ? `<text x="${left + plotW / 2}" y="${plotH / 2}" fill="#8e8e8e" font-size="12" text-anchor="middle">no finite values (NaN: nothing to divide yet)</text>` : '';
  return `<svg width="${width}" height="${height}">${grid.join('')}${paths.join('')}${empty}</svg>`;
}

function panelHtml(panel: EvaluatedPanel, range: { from: number; to: number }): string {
  const { gridPos, title } = panel.panel;
  const defaults = panel.panel.fieldConfig?.defaults;
  const unit = defaults?.unit ?? 'short';
  const mappings: Record<string, string> = {};
  for (const mapping of defaults?.mappings ?? []) for (const [value, { text }] of Object.entries(mapping.options ?? {})) mappings[value] = text;
  const width = gridPos.w * columnPx - 8;
  const height = gridPos.h * rowPx - 8;
  const lines = linesOf(panel);
  let body: string;
  if (panel.panel.type === 'stat') {
    const last = lines.map((line) => ({ name: line.name, value: line.points.at(-1)?.[1] ?? Number.NaN }));
    body = `<div class="stats">${last.map((s) => `<div class="stat"><div class="big">${escapeHtml(formatValue(s.value, unit, mappings))}</div><div class="sub">${escapeHtml(s.name)}</div></div>`).join('')}</div>`;
  } else {
    const legend = lines.slice(0, 8).map((line, i) => `<span><i style="background:${palette[i % palette.length] ?? '#73bf69'}"></i>${escapeHtml(line.name)}</span>`).join('');
    const more = lines.length > 8 ? `<span>+${lines.length - 8} more</span>` : '';
    body = `${chartSvg(lines, width - 12, height - 58, unit, range)}<div class="legend">${legend}${more}</div>`;
  }
  return `<div class="panel" style="left:${gridPos.x * columnPx}px;top:${gridPos.y * rowPx}px;width:${width}px;height:${height}px"><div class="title">${escapeHtml(title)}</div>${body}</div>`;
}

/** The whole dashboard as one HTML page; returns it with the page height in pixels. */
export function dashboardHtml(dashboard: DashboardJson, panels: readonly EvaluatedPanel[], range: { from: number; to: number }, caption: string): { html: string; heightPx: number } {
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => `<div class="row" style="top:${p.gridPos.y * rowPx}px">${escapeHtml(p.title)}</div>`);
  const bottom = Math.max(...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h)) * rowPx;
  const css = `body{margin:0;background:#111217;color:#ccccdc;font:13px sans-serif}
header{padding:10px 14px;font-size:18px}header small{font-size:12px;color:#8e8e8e;margin-left:12px}
.grid{position:relative;margin:0 10px;width:${24 * columnPx}px;height:${bottom}px}
.row{position:absolute;left:0;font-weight:bold;font-size:14px;padding:8px 4px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:6px;box-sizing:border-box;overflow:hidden}
.title{font-weight:600;margin-bottom:4px}.legend{font-size:11px;color:#ccccdc;display:flex;flex-wrap:wrap;gap:2px 10px;max-height:34px;overflow:hidden}
.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.stats{display:flex;gap:16px;justify-content:center;align-items:center;height:80%}.stat{text-align:center}.big{font-size:30px;color:#73bf69;font-weight:600}.sub{font-size:11px;color:#8e8e8e}`;
  const html = `<!doctype html><html><head><meta charset="utf-8"><style>${css}</style></head><body><header>${escapeHtml(dashboard.title)}<small>${escapeHtml(caption)}</small></header><div class="grid">${rows.join('')}${panels.map((p) => panelHtml(p, range)).join('')}</div></body></html>`;
  return { html, heightPx: bottom + 60 };
}
