// keyflow's own small SVG charts: line charts, vertical bar charts (grouped
// or stacked) and horizontal bar charts, with axes, a legend and a tooltip
// that follows the pointer (mouse or touch). They redraw when their box
// changes width, so they fit a phone as well as a wide screen.

const NS = 'http://www.w3.org/2000/svg';

export const PALETTE = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * Round tick values covering [min, max]: steps of 1, 2 or 5 times a power of
 * ten; whole steps only for counts (`integer`).
 */
export function niceTicks(min, max, count = 5, integer = false) {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  if (integer) step = Math.max(1, Math.round(step));
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, min: lo, max: hi };
}

const FONT = 11;
const charWidth = (s) => String(s).length * FONT * 0.6;

/**
 * Draws into `container`. `opts`: `kind` ('line' | 'bar'), `labels`,
 * `series: [{name, values, color?}]`, `format(v)` for the axis and tooltip,
 * `axisFormat(v)` when the axis wants another, `stacked` (bars), `integer`
 * (counts: whole ticks), `height`, `title` (the accessible name), `yMax`.
 * Answers `{destroy()}`.
 */
export function chart(container, opts) {
  container.classList.add('chart');
  const figure = document.createElement('div');
  figure.className = 'chart-figure';
  const tip = document.createElement('div');
  tip.className = 'chart-tip';
  tip.hidden = true;
  const legend = document.createElement('div');
  legend.className = 'chart-legend';
  container.replaceChildren(figure, tip, legend);
  const series = opts.series.map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] }));
  for (const s of series) {
    const item = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = s.color;
    item.append(swatch, s.name);
    legend.append(item);
  }
  if (series.length < 2) legend.hidden = true;

  let lastWidth = 0;
  const draw = () => {
    const width = Math.max(260, Math.floor(container.clientWidth || 600));
    if (width === lastWidth) return;
    lastWidth = width;
    figure.replaceChildren(render(width, opts, series, tip, container));
  };
  draw();
  const observer = new ResizeObserver(() => requestAnimationFrame(draw));
  observer.observe(container);
  return { destroy: () => observer.disconnect() };
}

function render(width, opts, series, tip, container) {
  const height = opts.height || 220;
  const format = opts.format || ((v) => String(v));
  const axisFormat = opts.axisFormat || format;
  const labels = opts.labels;
  const n = labels.length;
  const bars = opts.kind === 'bar';
  const stacked = bars && opts.stacked;

  let max = opts.yMax ?? 0;
  for (let i = 0; i < n; i += 1) {
    const values = series.map((s) => s.values[i] || 0);
    max = Math.max(max, stacked ? values.reduce((a, b) => a + b, 0) : Math.max(0, ...values));
  }
  const scale = niceTicks(0, max > 0 ? max : 1, height < 180 ? 3 : 5, !!opts.integer);
  const left = Math.ceil(Math.max(...scale.ticks.map((v) => charWidth(axisFormat(v))))) + 10;
  const margin = { top: 10, right: 12, bottom: 26, left };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const y = (v) => margin.top + plotH - (v / scale.max) * plotH;
  const step = n > 0 ? plotW / (bars ? n : Math.max(1, n - 1)) : plotW;
  const x = (i) => margin.left + (bars ? step * i + step / 2 : n === 1 ? plotW / 2 : step * i);

  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': opts.title || '', class: `chart-svg chart-${opts.kind}` });
  // Grid lines and the value axis.
  for (const v of scale.ticks) {
    root.append(svg('line', { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'gridline' }));
    root.append(svg('text', { x: margin.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, axisFormat(v)));
  }
  // Category labels, thinned so they never overlap, counted from the latest
  // (always labelled); kept inside the picture at both ends.
  const widest = Math.max(1, ...labels.map((l) => charWidth(l)));
  const every = Math.max(1, Math.ceil((widest + 10) / Math.max(step, 1)));
  labels.forEach((label, i) => {
    if ((n - 1 - i) % every !== 0) return;
    const half = charWidth(label) / 2;
    const anchor = x(i) + half > width ? 'end' : x(i) - half < 0 ? 'start' : 'middle';
    const at = anchor === 'end' ? width - 2 : anchor === 'start' ? 2 : x(i);
    root.append(svg('text', { x: at, y: height - 8, 'text-anchor': anchor, class: 'tick' }, label));
  });

  if (bars) {
    const group = Math.max(2, step * 0.72);
    const barW = stacked ? group : group / series.length;
    for (let i = 0; i < n; i += 1) {
      let base = 0;
      series.forEach((s, k) => {
        const v = s.values[i] || 0;
        const x0 = x(i) - group / 2 + (stacked ? 0 : k * barW);
        const top = y(base + v);
        const bottom = y(base);
        if (v > 0) {
          root.append(svg('rect', { x: x0, y: top, width: Math.max(1, barW - (stacked ? 0 : 1)), height: Math.max(1, bottom - top), fill: s.color, class: 'bar', 'data-value': v }));
        }
        if (stacked) base += v;
      });
    }
  } else {
    for (const s of series) {
      // A missing value (null) breaks the line instead of dropping to zero.
      let run = [];
      const runs = [run];
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          if (run.length) runs.push((run = []));
          return;
        }
        run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      });
      for (const points of runs.filter((r) => r.length)) {
        if (points.length === 1) points.push(points[0]);
        root.append(svg('polyline', { points: points.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'stroke-linecap': 'round', class: 'line', 'data-points': points.length }));
      }
      if (n <= 48) {
        s.values.forEach((v, i) => {
          if (v !== null && v !== undefined) root.append(svg('circle', { cx: x(i), cy: y(v), r: 2.5, fill: s.color, class: 'dot', 'data-value': v }));
        });
      }
    }
  }

  // Hover: a guide line and a tooltip for the nearest category.
  const guide = svg('line', { y1: margin.top, y2: margin.top + plotH, class: 'guide', visibility: 'hidden' });
  const overlay = svg('rect', { x: margin.left, y: margin.top, width: plotW, height: plotH, fill: 'transparent', class: 'overlay' });
  root.append(guide, overlay);
  const show = (event) => {
    const box = root.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * width;
    const i = Math.min(n - 1, Math.max(0, bars ? Math.floor((px - margin.left) / step) : Math.round((px - margin.left) / step)));
    if (n === 0) return;
    guide.setAttribute('x1', x(i));
    guide.setAttribute('x2', x(i));
    guide.setAttribute('visibility', 'visible');
    tip.replaceChildren();
    const head = document.createElement('strong');
    head.textContent = labels[i];
    tip.append(head);
    for (const s of series) {
      const row = document.createElement('div');
      const swatch = document.createElement('i');
      swatch.style.background = s.color;
      const v = s.values[i];
      row.append(swatch, `${s.name}: ${v === null || v === undefined ? '—' : format(v)}`);
      tip.append(row);
    }
    tip.hidden = false;
    const cbox = container.getBoundingClientRect();
    const gx = box.left - cbox.left + (x(i) / width) * box.width;
    const tipW = tip.offsetWidth;
    tip.style.left = `${Math.min(Math.max(0, gx + 12), Math.max(0, cbox.width - tipW))}px`;
    tip.style.top = `${Math.max(0, event.clientY - cbox.top - tip.offsetHeight - 8)}px`;
  };
  const hide = () => {
    guide.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  };
  overlay.addEventListener('pointermove', show);
  overlay.addEventListener('pointerdown', show);
  overlay.addEventListener('pointerleave', hide);
  return root;
}

export const lineChart = (container, opts) => chart(container, { ...opts, kind: 'line' });
export const barChart = (container, opts) => chart(container, { ...opts, kind: 'bar' });

/**
 * Horizontal bars for ranked lists (tokens per model): `labels`, `values`,
 * `format`, `color`, `title`. Long labels are cut, the full text is in the
 * bar's tooltip.
 */
export function hbarChart(container, opts) {
  container.classList.add('chart');
  const format = opts.format || ((v) => String(v));
  const color = opts.color || PALETTE[0];
  const draw = () => {
    const width = Math.max(260, Math.floor(container.clientWidth || 600));
    const rowH = 24;
    const maxLabel = Math.min(width * 0.42, Math.max(...opts.labels.map(charWidth), 20));
    const maxChars = Math.floor(maxLabel / (FONT * 0.6));
    const left = maxLabel + 10;
    const valueRoom = Math.max(...opts.values.map((v) => charWidth(format(v))), 20) + 10;
    const height = Math.max(1, opts.labels.length) * rowH + 8;
    const max = Math.max(...opts.values, 0) || 1;
    const plotW = Math.max(20, width - left - valueRoom);
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': opts.title || '', class: 'chart-svg chart-hbar' });
    opts.labels.forEach((label, i) => {
      const v = opts.values[i] || 0;
      const top = 4 + i * rowH;
      const shown = label.length > maxChars ? `${label.slice(0, Math.max(1, maxChars - 1))}…` : label;
      root.append(svg('text', { x: left - 8, y: top + 15, 'text-anchor': 'end', class: 'tick' }, shown));
      const w = Math.max(v > 0 ? 2 : 0, (v / max) * plotW);
      const bar = svg('rect', { x: left, y: top + 3, width: w, height: rowH - 8, rx: 3, fill: color, class: 'bar', 'data-value': v });
      bar.append(svg('title', {}, `${label}: ${format(v)}`));
      root.append(bar);
      root.append(svg('text', { x: left + w + 6, y: top + 15, class: 'tick value' }, format(v)));
    });
    container.replaceChildren(root);
  };
  draw();
  let lastWidth = container.clientWidth;
  const observer = new ResizeObserver(() => {
    if (container.clientWidth !== lastWidth) {
      lastWidth = container.clientWidth;
      requestAnimationFrame(draw);
    }
  });
  observer.observe(container);
  return { destroy: () => observer.disconnect() };
}
