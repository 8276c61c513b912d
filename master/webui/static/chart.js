// Line charts as inline SVG strings (no library): time on x, value on y from zero. Each
// series' path carries its number of points and latest value (data-points, data-last).

import { esc } from './format.js';

const COLORS = ['#1f5fa8', '#b3261e', '#23803a', '#9a6700', '#6f42c1', '#0a7d8c'];

/**
 * An SVG line chart. `series` is [{ name, points: [[t_ms, value], ...] }]; `format`
 * formats y values for the axis. A series needs two samples to show as a line.
 */
export function lineChart({ title, series, format = String, width = 560, height = 180 }) {
  const pad = { l: 64, r: 12, t: 22, b: 24 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const all = series.flatMap((s) => s.points);
  const tMin = Math.min(...all.map((p) => p[0]));
  const tMax = Math.max(...all.map((p) => p[0]));
  const yMax = Math.max(1e-9, ...all.map((p) => p[1])) * 1.1;
  const x = (t) => pad.l + (tMax > tMin ? ((t - tMin) / (tMax - tMin)) * w : 0);
  const y = (v) => pad.t + h - (v / yMax) * h;
  const enough = series.some((s) => s.points.length >= 2);
  const lines = !enough ? '' : series.map((s, i) => {
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
    const last = s.points.length ? s.points[s.points.length - 1][1] : 0;
    return `<path data-series="${esc(s.name)}" data-points="${s.points.length}" data-last="${last}" d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.6"/>`;
  }).join('');
  const ticks = [0, 0.5, 1].map((f) => {
    const v = yMax * f / 1.1;
    return `<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e8ee"/>` +
      `<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${esc(format(v))}</text>`;
  }).join('');
  const span = enough ? `${Math.round((tMax - tMin) / 1000)} s` : 'collecting samples…';
  const legend = series.map((s, i) =>
    `<span><i class="swatch" style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.name)}</span>`).join('');
  return `<figure class="chart-box">
  <svg class="chart" data-chart="${esc(title)}" role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    <text x="${pad.l}" y="14" style="font-weight:600;fill:#1d2430">${esc(title)}</text>
    ${ticks}
    <line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${pad.t + h}" stroke="#b0bac6"/>
    ${lines}
    <text x="${pad.l + w}" y="${height - 6}" text-anchor="end">last ${esc(span)}</text>
  </svg>
  <figcaption class="legend">${legend}</figcaption>
</figure>`;
}
