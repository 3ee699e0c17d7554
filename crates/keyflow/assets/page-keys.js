// Keys: the pool, paged, sorted and filtered on the server (so it stays
// quick with 100,000 keys); enable/disable, delete, bulk actions on a
// selection that survives paging, balance refresh with a live progress bar,
// and the import and export dialogs (keys-dialogs.js).

import { t } from './i18n.js';
import { api, withQuery } from './api.js';
import { h, field, select, pager, stateBadge, fmtInt, fmtCny, fmtSecs, fmtUntil, tableWrap, emptyRow, toast, toastError, confirmDialog, debounce } from './ui.js';
import { openImport, openExport } from './keys-dialogs.js';

const STATES = ['', 'active', 'free', 'cooling', 'invalid', 'disabled'];
const SIZES = [25, 50, 100, 200, 500];
const COLUMNS = [
  { key: 'id', sort: 'id' },
  { key: 'key' },
  { key: 'state', sort: 'state' },
  { key: 'balance', sort: 'balance' },
  { key: 'usage', sort: 'usage_count' },
  { key: 'last_error' },
  { key: 'cooldown' },
  { key: 'created', sort: 'created_at' },
];

// Kept across visits to the page (and language switches). `size: null`
// until the operator picks one: the server's `page_size` setting decides.
const view = { page: 1, size: null, state: '', sort: 'id', order: 'asc', q: '', selected: new Set() };

export function render(main, ctx) {
  if (ctx.query.has('state')) {
    view.state = ctx.query.get('state');
    view.page = 1;
  }
  let stopped = false;
  let pollTimer = null;
  let following = false;
  let hideTimer = null;
  let rows = [];

  const tableBox = h('div', {});
  const pagerBox = h('div', {});
  const progressBox = h('div', { class: 'progress-box', hidden: true, 'aria-live': 'polite' });
  const selectionText = h('span', { class: 'muted' });
  const bulkButtons = [];
  const bulk = (name, label, handler, cls = 'btn') => {
    const b = h('button', { type: 'button', class: cls, onclick: handler, 'data-bulk': name }, label);
    bulkButtons.push(b);
    return b;
  };

  const stateSelect = select(STATES.map((s) => [s, s ? t(`state.${s}`) : t('keys.all_states')]), view.state, {
    name: 'state',
    onchange: (e) => { view.state = e.target.value; view.page = 1; load(); },
  });
  const search = h('input', { type: 'search', name: 'q', value: view.q, placeholder: t('keys.search_hint'), autocomplete: 'off' });
  search.addEventListener('input', debounce(() => { view.q = search.value.trim(); view.page = 1; load(); }, 300));
  const sizeSelect = select(SIZES.map((n) => [n, String(n)]), view.size, {
    name: 'size',
    onchange: (e) => { view.size = Number(e.target.value); view.page = 1; load(); },
  });
  /** Shows the size the server used, adding it to the choices when it is not one. */
  const showSize = (size) => {
    if (![...sizeSelect.options].some((o) => Number(o.value) === size)) {
      const options = [...new Set([...SIZES, size])].sort((a, b) => a - b);
      sizeSelect.replaceChildren(...options.map((n) => h('option', { value: n }, String(n))));
    }
    sizeSelect.value = String(size);
  };

  main.append(
    h('div', { class: 'page-head' },
      h('h1', {}, t('keys.title')),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-primary', onclick: () => openImport(load), 'data-action': 'import' }, t('keys.import')),
        h('button', { type: 'button', class: 'btn', onclick: openExport, 'data-action': 'export' }, t('keys.export')),
        h('button', { type: 'button', class: 'btn', onclick: () => refresh(null), 'data-action': 'refresh-all' }, t('keys.refresh_all')))),
    progressBox,
    h('div', { class: 'toolbar' },
      field(t('keys.state_filter'), stateSelect),
      field(t('keys.search'), search),
      field(t('keys.page_size'), sizeSelect)),
    h('div', { class: 'bulkbar', role: 'group', 'aria-label': t('keys.bulk') },
      selectionText,
      bulk('enable', t('keys.enable'), () => setEnabledMany(true)),
      bulk('disable', t('keys.disable'), () => setEnabledMany(false)),
      bulk('refresh', t('keys.refresh_selected'), () => refresh([...view.selected])),
      bulk('delete', t('keys.delete'), deleteMany, 'btn btn-danger'),
      bulk('clear', t('keys.clear_selection'), () => { view.selected.clear(); drawTable(); }, 'btn btn-ghost')),
    tableBox,
    pagerBox);

  async function load() {
    try {
      const data = await api('GET', withQuery('/api/keys', {
        page: view.page, size: view.size, state: view.state, sort: view.sort, order: view.order, q: view.q,
      }));
      if (stopped) return;
      rows = data.items || [];
      showSize(data.size);
      const pages = Math.max(1, Math.ceil(data.total / data.size));
      if (view.page > pages && data.total > 0) {
        view.page = pages;
        return load();
      }
      drawTable();
      pagerBox.replaceChildren(pager({ total: data.total, page: view.page, size: data.size, onPage: (p) => { view.page = p; load(); } }));
    } catch (e) {
      toastError(e);
    }
  }

  function drawTable() {
    const n = view.selected.size;
    selectionText.textContent = t('keys.selected', { n: fmtInt(n) });
    for (const b of bulkButtons) b.disabled = n === 0;
    const allOnPage = rows.length > 0 && rows.every((r) => view.selected.has(r.id));
    const someOnPage = rows.some((r) => view.selected.has(r.id));
    const head = h('tr', {},
      h('th', { class: 'check' }, h('input', {
        type: 'checkbox', checked: allOnPage, indeterminate: someOnPage && !allOnPage, 'aria-label': t('keys.select_page'),
        onchange: (e) => { for (const r of rows) e.target.checked ? view.selected.add(r.id) : view.selected.delete(r.id); drawTable(); },
      })),
      COLUMNS.map((c) => header(c)),
      h('th', {}, h('span', { class: 'sr-only' }, t('keys.actions'))));
    const body = rows.length ? rows.map(row) : [emptyRow(COLUMNS.length + 2, view.state || view.q ? t('keys.none_match') : t('keys.none'))];
    tableBox.replaceChildren(tableWrap(h('table', { class: 'table keys-table' }, h('thead', {}, head), h('tbody', {}, body)), t('keys.title')));
  }

  function header(c) {
    const label = t(`keys.col.${c.key}`);
    if (!c.sort) return h('th', {}, label);
    const active = view.sort === c.sort;
    const arrow = active ? (view.order === 'asc' ? ' ▲' : ' ▼') : '';
    return h('th', { 'aria-sort': active ? (view.order === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => {
        if (active) view.order = view.order === 'asc' ? 'desc' : 'asc';
        else { view.sort = c.sort; view.order = c.sort === 'balance' || c.sort === 'usage_count' ? 'desc' : 'asc'; }
        view.page = 1;
        load();
      } }, label, arrow));
  }

  function row(k) {
    return h('tr', { dataset: { id: k.id, state: k.state } },
      h('td', { class: 'check' }, h('input', {
        type: 'checkbox', checked: view.selected.has(k.id), 'aria-label': t('keys.select_one', { id: k.id }),
        onchange: (e) => { e.target.checked ? view.selected.add(k.id) : view.selected.delete(k.id); drawTable(); },
      })),
      h('td', { class: 'num' }, String(k.id)),
      h('td', { class: 'mono nowrap key-cell' }, k.key),
      h('td', {}, stateBadge(k.state)),
      h('td', { class: 'num' }, k.balance === null || k.balance === undefined ? h('span', { class: 'muted' }, t('keys.unknown')) : fmtCny(k.balance)),
      h('td', { class: 'num' }, fmtInt(k.usage_count), k.inflight ? h('span', { class: 'muted small' }, ` (${k.inflight} ${t('keys.inflight')})`) : null),
      k.last_error ? h('td', { class: 'wrap-text error-text', title: k.last_error }, k.last_error) : h('td', { class: 'muted' }, '—'),
      h('td', { class: 'nowrap' }, k.cooldown_until ? fmtUntil(k.cooldown_until) : '—'),
      h('td', { class: 'nowrap' }, fmtSecs(k.created_at)),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'btn btn-small', 'data-action': k.enabled ? 'disable' : 'enable', 'aria-label': `${k.enabled ? t('keys.disable') : t('keys.enable')} #${k.id}`,
          onclick: () => setEnabled(k.id, !k.enabled) }, k.enabled ? t('keys.disable') : t('keys.enable')),
        h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'delete', 'aria-label': `${t('keys.delete')} #${k.id}`,
          onclick: () => deleteOne(k) }, t('keys.delete'))));
  }

  async function setEnabled(id, enabled) {
    try {
      await api('PATCH', `/api/keys/${id}`, { json: { enabled } });
      toast(enabled ? t('keys.enabled_one', { id }) : t('keys.disabled_one', { id }), 'ok');
      load();
    } catch (e) {
      toastError(e);
    }
  }

  async function setEnabledMany(enabled) {
    const ids = [...view.selected];
    let failed = 0;
    // A few calls at a time: quick for hundreds of keys, gentle on the server.
    const queue = ids.slice();
    const worker = async () => {
      while (queue.length) {
        const id = queue.shift();
        try { await api('PATCH', `/api/keys/${id}`, { json: { enabled } }); } catch (e) { if (e.status === 401) return; failed += 1; }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker));
    toast(t(enabled ? 'keys.enabled_many' : 'keys.disabled_many', { n: ids.length - failed }), failed ? 'error' : 'ok');
    load();
  }

  async function deleteOne(k) {
    if (!(await confirmDialog(t('keys.confirm_delete_one', { key: k.key }), { okText: t('keys.delete') }))) return;
    try {
      await api('DELETE', `/api/keys/${k.id}`);
      view.selected.delete(k.id);
      toast(t('keys.deleted', { n: 1 }), 'ok');
      load();
    } catch (e) {
      toastError(e);
    }
  }

  async function deleteMany() {
    const ids = [...view.selected];
    if (!(await confirmDialog(t('keys.confirm_delete_many', { n: ids.length }), { okText: t('keys.delete') }))) return;
    try {
      const answer = await api('POST', '/api/keys/delete', { json: { ids } });
      view.selected.clear();
      toast(t('keys.deleted', { n: answer.deleted }), 'ok');
      load();
    } catch (e) {
      toastError(e);
    }
  }

  async function refresh(ids) {
    try {
      await api('POST', '/api/keys/refresh', { json: ids ? { ids } : {} });
    } catch (e) {
      // 409: a refresh is already running; follow it.
      if (e.status !== 409) return toastError(e);
      toast(t('keys.refresh_running'));
    }
    following = true;
    poll();
  }

  async function poll() {
    clearTimeout(pollTimer);
    try {
      const { progress } = await api('GET', '/api/keys/refresh');
      if (stopped) return;
      if (progress.running || following) showProgress(progress);
      if (progress.running) {
        following = true;
        pollTimer = setTimeout(poll, 700);
      } else if (following) {
        following = false;
        toast(t('keys.refresh_done', { done: progress.done, invalid: progress.invalid, failed: progress.failed }), 'ok');
        hideTimer = setTimeout(() => { progressBox.hidden = true; }, 3000);
        load();
      }
    } catch (e) {
      toastError(e);
    }
  }

  function showProgress(p) {
    clearTimeout(hideTimer);
    progressBox.hidden = false;
    const pct = p.total ? Math.round((p.done / p.total) * 100) : (p.running ? 0 : 100);
    const fill = h('div', { class: 'progress-fill' });
    fill.style.width = `${pct}%`;
    progressBox.replaceChildren(
      h('div', { class: 'progress-text' },
        p.running ? t('keys.refreshing') : t('keys.refreshed'), ' ',
        h('b', {}, `${fmtInt(p.done)} / ${fmtInt(p.total)}`),
        ` · ${t('keys.refresh_invalid', { n: p.invalid })} · ${t('keys.refresh_failed', { n: p.failed })}`),
      h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, 'aria-label': t('keys.refreshing') }, fill));
  }

  load();
  poll();
  return () => {
    stopped = true;
    clearTimeout(pollTimer);
    clearTimeout(hideTimer);
  };
}
