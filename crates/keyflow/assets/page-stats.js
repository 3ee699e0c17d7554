// Statistics: requests, tokens, spend, success rate, latency and time to
// first byte per hour, day or month (`GET /api/stats/{hourly,daily,monthly}`),
// drawn with charts.js, and the same figures per model, key and client token.
// Every figure is the server's: the window's sums (`summary`, `*_summary`)
// come folded and averaged by `stats/`, never re-added here.

import { t } from './i18n.js';
import { api, withQuery } from './api.js';
import { h, field, select, stat, fmtInt, fmtCompact, fmtCny, fmtPercent, fmtMs, tableWrap, emptyRow, toastError } from './ui.js';
import { lineChart, barChart, hbarChart } from './charts.js';

const RANGES = {
  hourly: { param: 'hours', options: [24, 48, 168], initial: 24 },
  daily: { param: 'days', options: [7, 30, 90], initial: 30 },
  monthly: { param: 'months', options: [6, 12, 24], initial: 12 },
};
const view = { period: 'daily', n: 30, model: '', token: '' };
const TOP = 12;

export function render(main) {
  let charts = [];
  let stopped = false;
  const body = h('div', { class: 'stack' }, h('p', { class: 'muted' }, t('common.loading')));
  const zone = h('span', { class: 'muted small' });

  const periodGroup = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': t('stats.period') },
    Object.keys(RANGES).map((p) => h('button', {
      type: 'button', role: 'radio', 'aria-checked': String(view.period === p), 'data-period': p,
      onclick: () => {
        view.period = p;
        view.n = RANGES[p].initial;
        for (const b of periodGroup.children) b.setAttribute('aria-checked', String(b.dataset.period === p));
        fillRange();
        load();
      },
    }, t(`stats.${p}`))));
  const rangeSelect = h('select', { onchange: (e) => { view.n = Number(e.target.value); load(); } });
  const fillRange = () => {
    const r = RANGES[view.period];
    rangeSelect.replaceChildren(...r.options.map((n) => h('option', { value: n, selected: n === view.n }, t(`stats.range.${r.param}`, { n }))));
  };
  fillRange();
  const model = h('input', { value: view.model, placeholder: t('stats.any'), autocomplete: 'off' });
  const token = h('input', { value: view.token, placeholder: t('stats.any'), autocomplete: 'off' });
  const filters = h('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    view.model = model.value.trim();
    view.token = token.value.trim();
    load();
  } },
  h('div', { class: 'field field-auto' }, h('span', { class: 'label' }, t('stats.period')), periodGroup),
  field(t('stats.range_label'), rangeSelect),
  field(t('logs.model'), model),
  field(t('logs.token'), token),
  h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn' }, t('logs.apply'))));

  main.append(h('div', { class: 'page-head' }, h('h1', {}, t('stats.title')), zone), filters, body);

  async function load() {
    const r = RANGES[view.period];
    try {
      const data = await api('GET', withQuery(`/api/stats/${view.period}`, { [r.param]: view.n, model: view.model, token: view.token }));
      if (stopped) return;
      zone.textContent = t('stats.zone', { zone: data.time_zone });
      for (const c of charts) c.destroy();
      charts = [];
      body.replaceChildren();
      draw(data);
    } catch (e) {
      toastError(e);
    }
  }

  /** Adds a chart card to `parent` now; answers the function that draws it. */
  function chartCard(parent, title, make, extraClass) {
    const box = h('div', { class: 'chart-box' });
    parent.append(h('section', { class: `card chart-card ${extraClass || ''}` }, h('h2', {}, title), box));
    return () => charts.push(make(box));
  }

  function draw(data) {
    const rows = data.totals || [];
    const labels = rows.map((r) => shortLabel(r.period, data.period));
    const sum = data.summary || {};
    body.append(h('section', { class: 'card' }, h('div', { class: 'grid', 'data-stats': 'summary' },
      stat(t('stats.requests'), fmtInt(sum.requests), t('overview.errors', { n: fmtInt(sum.errors) })),
      stat(t('stats.success_rate'), sum.requests ? fmtPercent(sum.success_rate) : '—'),
      stat(t('stats.tokens'), fmtCompact(sum.total_tokens)),
      stat(t('stats.spend'), fmtCny(sum.cost)),
      stat(t('stats.latency'), sum.requests ? fmtMs(sum.avg_latency_ms) : '—'),
      stat(t('stats.ttfb'), sum.requests ? fmtMs(sum.avg_ttfb_ms) : '—'))));
    const grid = h('div', { class: 'chart-grid' });
    body.append(grid);
    const pending = [
      chartCard(grid, t('stats.requests'), (box) => barChart(box, { title: t('stats.requests'), labels, stacked: true, integer: true, format: fmtCompact,
        series: [{ name: t('stats.ok'), values: rows.map((r) => r.success), color: '#16a34a' }, { name: t('stats.failed'), values: rows.map((r) => r.errors), color: '#dc2626' }] })),
      chartCard(grid, t('stats.tokens'), (box) => lineChart(box, { title: t('stats.tokens'), labels, integer: true, format: fmtCompact,
        series: [{ name: t('stats.total'), values: rows.map((r) => r.total_tokens) }, { name: t('stats.prompt'), values: rows.map((r) => r.prompt_tokens) }, { name: t('stats.completion'), values: rows.map((r) => r.completion_tokens) }] })),
      chartCard(grid, t('stats.spend'), (box) => barChart(box, { title: t('stats.spend'), labels, format: fmtCny,
        series: [{ name: t('stats.spend'), values: rows.map((r) => r.cost), color: '#f59e0b' }] })),
      chartCard(grid, t('stats.success_rate'), (box) => lineChart(box, { title: t('stats.success_rate'), labels, yMax: 1, format: fmtPercent, axisFormat: (v) => `${Math.round(v * 100)}%`,
        series: [{ name: t('stats.success_rate'), values: rows.map((r) => (r.requests ? r.success_rate : null)), color: '#16a34a' }] })),
      chartCard(grid, t('stats.latency_ttfb'), (box) => lineChart(box, { title: t('stats.latency_ttfb'), labels, format: fmtMs,
        series: [{ name: t('stats.latency'), values: rows.map((r) => (r.requests ? r.avg_latency_ms : null)), color: '#7c3aed' }, { name: t('stats.ttfb'), values: rows.map((r) => (r.requests ? r.avg_ttfb_ms : null)), color: '#0891b2' }] }), 'wide'),
    ];
    // Drawn once all cards are in place, so each measures its real width.
    for (const make of pending) make();

    breakdown(t('stats.by_model'), named(data.model_summary, (r) => r.model || '—'), (name) => h('span', { class: 'mono' }, name));
    breakdown(t('stats.by_key'), named(data.key_summary, (r) => (r.key_id ? `#${r.key_id}` : '—')), (name) => name);
    breakdown(t('stats.by_client'), named(data.client_summary, (r) => r.client || t('stats.no_token')), (name) => name);
  }

  function breakdown(title, groups, cell) {
    const top = groups.slice(0, TOP);
    const chartBox = h('div', { class: 'chart-box' });
    const table = h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, ['name', 'requests', 'success_rate', 'prompt', 'completion', 'total', 'spend', 'latency', 'ttfb'].map((c) => h('th', {}, t(`stats.col.${c}`))))),
      h('tbody', {}, groups.length ? groups.map((g) => h('tr', {},
        h('td', {}, cell(g.name)),
        h('td', { class: 'num' }, fmtInt(g.requests)),
        h('td', { class: 'num' }, fmtPercent(g.requests ? g.success_rate : null)),
        h('td', { class: 'num' }, fmtInt(g.prompt_tokens)),
        h('td', { class: 'num' }, fmtInt(g.completion_tokens)),
        h('td', { class: 'num' }, fmtInt(g.total_tokens)),
        h('td', { class: 'num' }, fmtCny(g.cost)),
        h('td', { class: 'num' }, fmtMs(g.requests ? g.avg_latency_ms : null)),
        h('td', { class: 'num' }, fmtMs(g.requests ? g.avg_ttfb_ms : null)))) : emptyRow(9)));
    body.append(h('section', { class: 'card' }, h('h2', {}, title), top.length ? chartBox : null, tableWrap(table, title)));
    if (top.length) {
      charts.push(hbarChart(chartBox, { title: `${title}: ${t('stats.tokens')}`, labels: top.map((g) => g.name), values: top.map((g) => g.total_tokens), format: fmtCompact }));
    }
  }

  load();
  return () => {
    stopped = true;
    for (const c of charts) c.destroy();
  };
}

/** The server's rows over the window (already in its order), each with the name shown. */
function named(rows, nameOf) {
  return (rows || []).map((r) => ({ ...r, name: nameOf(r) }));
}

/** Axis labels: the hour for hourly, month-day for daily, year-month for monthly. */
function shortLabel(period, kind) {
  if (kind === 'hour') return period.slice(11, 16) === '00:00' ? period.slice(5, 10) : period.slice(11, 16);
  if (kind === 'day') return period.slice(5);
  return period;
}
