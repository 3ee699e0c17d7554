// Overview: the pool at a glance, refreshed every 5 s from
// `GET /api/stats/overview` — balance, keys by state, live RPM/TPM and
// RPD/TPD, today's requests, tokens and spend, success rate, recent errors.

import { t } from './i18n.js';
import { api } from './api.js';
import { h, stat, fmtInt, fmtCompact, fmtCny, fmtPercent, fmtMs, fmtTime, tableWrap, emptyRow, toastError } from './ui.js';

const STATES = ['active', 'free', 'cooling', 'invalid', 'disabled'];
const REFRESH_MS = 5000;

export function render(main) {
  const updated = h('span', { class: 'muted', 'aria-live': 'off' });
  const body = h('div', { class: 'stack' }, h('p', { class: 'muted' }, t('common.loading')));
  main.append(
    h('div', { class: 'page-head' },
      h('h1', {}, t('overview.title')),
      h('span', { class: 'muted small' }, t('overview.auto'), ' · ', updated)),
    body);

  let timer = null;
  let stopped = false;
  const load = async () => {
    try {
      const data = await api('GET', '/api/stats/overview');
      if (stopped) return;
      body.replaceChildren(...view(data));
      updated.textContent = t('overview.updated', { time: new Date().toLocaleTimeString() });
    } catch (e) {
      if (!stopped) toastError(e);
    } finally {
      if (!stopped) timer = setTimeout(load, REFRESH_MS);
    }
  };
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function view(d) {
  const live = d.live || {};
  const today = d.today || {};
  const totals = d.totals || {};
  const keys = d.keys || {};
  return [
    section(t('overview.live'), [
      stat(t('overview.rpm'), fmtInt(live.rpm)),
      stat(t('overview.tpm'), fmtInt(live.tpm)),
      stat(t('overview.rpd'), fmtInt(live.rpd)),
      stat(t('overview.tpd'), fmtCompact(live.tpd)),
    ]),
    section(t('overview.today'), [
      stat(t('overview.requests'), fmtInt(today.requests), t('overview.errors', { n: fmtInt(today.errors) })),
      stat(t('overview.tokens'), fmtCompact(today.total_tokens),
        `${fmtCompact(today.prompt_tokens)} ${t('overview.in')} · ${fmtCompact(today.completion_tokens)} ${t('overview.out')}`),
      stat(t('overview.spend'), fmtCny(today.cost)),
      stat(t('overview.success'), today.requests ? fmtPercent(today.success_rate) : '—'),
      stat(t('overview.latency'), today.requests ? fmtMs(today.avg_latency_ms) : '—',
        today.requests ? `${t('overview.ttfb')} ${fmtMs(today.avg_ttfb_ms)}` : null),
    ]),
    h('div', { class: 'cols' },
      h('section', { class: 'card' },
        h('h2', {}, t('overview.pool')),
        h('div', { class: 'grid grid-2' },
          stat(t('overview.balance'), fmtCny(d.pool_balance)),
          stat(t('overview.keys_total'), fmtInt(keys.total))),
        stateBar(keys)),
      h('section', { class: 'card' },
        h('h2', {}, t('overview.all_time')),
        h('div', { class: 'grid grid-2' },
          stat(t('overview.requests'), fmtInt(totals.requests)),
          stat(t('overview.success'), totals.requests ? fmtPercent(totals.success_rate) : '—'),
          stat(t('overview.tokens'), fmtCompact(totals.total_tokens)),
          stat(t('overview.spend'), fmtCny(totals.cost))))),
    recentErrors(d.recent_errors || []),
  ];
}

function section(title, tiles) {
  return h('section', { class: 'card' }, h('h2', {}, title), h('div', { class: 'grid' }, tiles));
}

/** A stacked bar of the keys per state, each part linking to the filtered list. */
function stateBar(keys) {
  // Each key counts in one state (the server's `pool::DisplayState`), so the parts add up to the total.
  const total = keys.total || 0;
  const bar = h('div', { class: 'statebar', role: 'img', 'aria-label': STATES.map((s) => `${t(`state.${s}`)} ${keys[s] || 0}`).join(', ') });
  for (const s of STATES) {
    const n = keys[s] || 0;
    if (!n || !total) continue;
    const part = h('span', { class: `state-${s}` });
    part.style.width = `${(n / total) * 100}%`;
    bar.append(part);
  }
  const legend = h('ul', { class: 'state-legend' }, STATES.map((s) =>
    h('li', {}, h('a', { href: `#/keys?state=${s}` }, h('i', { class: `dot state-${s}` }), `${t(`state.${s}`)} `, h('b', {}, fmtInt(keys[s] || 0))))));
  return h('div', { class: 'stack-sm' }, total ? bar : null, legend);
}

function recentErrors(rows) {
  const table = h('table', { class: 'table' },
    h('thead', {}, h('tr', {},
      h('th', {}, t('logs.time')), h('th', {}, t('logs.model')), h('th', {}, t('logs.key')),
      h('th', {}, t('logs.status')), h('th', {}, t('logs.error')))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {},
      h('td', { class: 'nowrap' }, fmtTime(r.ts_ms)),
      h('td', { class: 'mono' }, r.model || '—'),
      h('td', {}, r.key_id ? h('a', { href: `#/logs?key=${r.key_id}` }, `#${r.key_id}`) : '—'),
      h('td', {}, h('span', { class: 'badge badge-error' }, String(r.status))),
      h('td', { class: 'wrap-text' }, r.error || '—'))) : emptyRow(5, t('overview.no_errors'))));
  return h('section', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', {}, t('overview.recent_errors')), h('a', { href: '#/logs?status=error' }, t('overview.all_errors'))),
    tableWrap(table, t('overview.recent_errors')));
}
