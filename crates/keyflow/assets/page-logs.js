// Logs: the request log, filtered (model, key, client token, status, time
// range) and paged on the server; a row opens a drawer with every field;
// "clear all" empties the log after a confirmation.

import { t } from './i18n.js';
import { api, withQuery } from './api.js';
import { h, field, select, modal, pager, fmtInt, fmtCny, fmtMs, fmtTime, tableWrap, emptyRow, toast, toastError, confirmDialog } from './ui.js';

const EMPTY = { model: '', key: '', token: '', status: '', code: '', from: '', to: '' };
const view = { page: 1, size: null, filters: { ...EMPTY } };

/** `datetime-local` value (local time) → RFC 3339 in UTC for the server. */
function toIso(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function render(main, ctx) {
  if ([...ctx.query.keys()].length) {
    view.filters = { ...EMPTY };
    for (const k of ['model', 'key', 'token', 'status']) if (ctx.query.has(k)) view.filters[k] = ctx.query.get(k);
    if (/^\d+$/.test(view.filters.status)) {
      view.filters.code = view.filters.status;
      view.filters.status = 'code';
    }
    view.page = 1;
  }
  let stopped = false;
  const f = view.filters;
  const inputs = {
    model: h('input', { value: f.model, list: 'model-list', autocomplete: 'off', placeholder: 'Qwen/…' }),
    key: h('input', { value: f.key, type: 'number', min: 1, inputmode: 'numeric' }),
    token: h('input', { value: f.token, autocomplete: 'off' }),
    status: select([['', t('logs.all')], ['success', t('logs.success')], ['error', t('logs.errors')], ['code', t('logs.code')]], f.status),
    code: h('input', { value: f.code, type: 'number', min: 100, max: 599, inputmode: 'numeric', placeholder: '429' }),
    from: h('input', { value: f.from, type: 'datetime-local' }),
    to: h('input', { value: f.to, type: 'datetime-local' }),
  };
  const codeField = field(t('logs.code_value'), inputs.code);
  const syncCode = () => { codeField.hidden = inputs.status.value !== 'code'; };
  inputs.status.addEventListener('change', syncCode);
  syncCode();
  const datalist = h('datalist', { id: 'model-list' });
  const tableBox = h('div', {});
  const pagerBox = h('div', {});

  const form = h('form', { class: 'card filters', onsubmit: (e) => {
    e.preventDefault();
    for (const k of Object.keys(EMPTY)) view.filters[k] = inputs[k].value.trim();
    view.page = 1;
    load();
  } },
  h('div', { class: 'toolbar' },
    field(t('logs.model'), inputs.model),
    field(t('logs.key_id'), inputs.key),
    field(t('logs.token'), inputs.token),
    field(t('logs.status'), inputs.status),
    codeField,
    field(t('logs.from'), inputs.from),
    field(t('logs.to'), inputs.to)),
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('logs.apply')),
    h('button', { type: 'button', class: 'btn', onclick: () => {
      view.filters = { ...EMPTY };
      for (const k of Object.keys(EMPTY)) inputs[k].value = '';
      syncCode();
      view.page = 1;
      load();
    } }, t('logs.reset'))),
  datalist);

  main.append(
    h('div', { class: 'page-head' },
      h('h1', {}, t('logs.title')),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => load() }, t('logs.reload')),
        h('button', { type: 'button', class: 'btn btn-danger', onclick: clearAll, 'data-action': 'clear-logs' }, t('logs.clear')))),
    form, tableBox, pagerBox);

  async function load() {
    const fl = view.filters;
    const status = fl.status === 'code' ? fl.code : fl.status;
    try {
      const data = await api('GET', withQuery('/api/logs', {
        page: view.page, size: view.size, model: fl.model, key: fl.key, token: fl.token, status, from: toIso(fl.from), to: toIso(fl.to),
      }));
      if (stopped) return;
      view.size = data.size;
      draw(data.items || []);
      pagerBox.replaceChildren(pager({ total: data.total, page: data.page, size: data.size, onPage: (p) => { view.page = p; load(); } }));
    } catch (e) {
      toastError(e);
    }
  }

  function draw(items) {
    const head = h('tr', {}, ['time', 'client', 'model', 'key', 'status', 'latency', 'ttfb', 'tokens', 'cost'].map((c) => h('th', {}, t(`logs.${c}`))));
    const rows = items.map((r) => {
      const ok = r.status >= 200 && r.status < 300 && !r.error;
      const tr = h('tr', { class: 'clickable', tabindex: 0, dataset: { id: r.id }, 'aria-label': t('logs.open_row', { id: r.id }) },
        h('td', { class: 'nowrap' }, fmtTime(r.ts_ms)),
        h('td', {}, r.client || '—'),
        h('td', { class: 'mono' }, r.model || '—'),
        h('td', { class: 'num' }, r.key_id ? `#${r.key_id}` : '—'),
        h('td', {}, h('span', { class: `badge ${ok ? 'badge-ok' : 'badge-error'}` }, String(r.status)), r.stream ? h('span', { class: 'badge' }, 'SSE') : null),
        h('td', { class: 'num' }, fmtMs(r.latency_ms)),
        h('td', { class: 'num' }, fmtMs(r.ttfb_ms)),
        h('td', { class: 'num', title: `${r.prompt_tokens} + ${r.completion_tokens}` }, fmtInt(r.total_tokens)),
        h('td', { class: 'num' }, fmtCny(r.cost)));
      tr.addEventListener('click', () => details(r));
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); details(r); } });
      return tr;
    });
    tableBox.replaceChildren(tableWrap(h('table', { class: 'table logs-table' }, h('thead', {}, head), h('tbody', {}, rows.length ? rows : emptyRow(9, t('logs.none')))), t('logs.title')));
  }

  async function clearAll() {
    if (!(await confirmDialog(t('logs.confirm_clear'), { okText: t('logs.clear') }))) return;
    try {
      const answer = await api('DELETE', '/api/logs');
      toast(t('logs.cleared', { n: fmtInt(answer.deleted) }), 'ok');
      view.page = 1;
      load();
    } catch (e) {
      toastError(e);
    }
  }

  api('GET', '/api/models').then((m) => {
    datalist.replaceChildren(...(m.items || []).map((x) => h('option', { value: x.id })));
  }).catch(() => {});
  load();
  return () => { stopped = true; };
}

/** The drawer with every field of one log row. */
function details(r) {
  const yes = t('common.yes');
  const no = t('common.no');
  const fields = [
    ['logs.id', r.id],
    ['logs.time', fmtTime(r.ts_ms)],
    ['logs.client', r.client || '—'],
    ['logs.route', r.route],
    ['logs.model', r.model || '—'],
    ['logs.key', r.key_id ? h('a', { href: `#/logs?key=${r.key_id}` }, `#${r.key_id}`) : '—'],
    ['logs.status', String(r.status)],
    ['logs.error', r.error || '—'],
    ['logs.latency', fmtMs(r.latency_ms)],
    ['logs.ttfb', fmtMs(r.ttfb_ms)],
    ['logs.prompt_tokens', fmtInt(r.prompt_tokens)],
    ['logs.completion_tokens', fmtInt(r.completion_tokens)],
    ['logs.total_tokens', fmtInt(r.total_tokens)],
    ['logs.images', fmtInt(r.images)],
    ['logs.cost', fmtCny(r.cost)],
    ['logs.retries', fmtInt(r.retries)],
    ['logs.stream', r.stream ? yes : no],
    ['logs.aborted', r.aborted ? yes : no],
    ['logs.instance', r.instance || '—'],
  ];
  modal({
    title: t('logs.details', { id: r.id }),
    drawer: true,
    body: h('dl', { class: 'details' }, fields.map(([k, v]) => [h('dt', {}, t(k)), h('dd', { class: k === 'logs.error' ? 'wrap-text' : null }, v)])),
  });
}
