// The public dashboard (`/dashboard`): pool balance, keys by state, live
// RPM/TPM/RPD/TPD and every key masked with its balance, refreshed every
// 5 s. Who sees it follows ACCESS_CONTROL: open to anyone, restricted
// behind the guest password (a form here), private to the logged-in admin.

import { t, applyStatic, bindLanguageSelects, onLanguageChange } from './i18n.js';
import { send, parse } from './api.js';
import { h, field, select, stat, pager, stateBadge, fmtInt, fmtCompact, fmtCny, tableWrap, emptyRow } from './ui.js';

const REFRESH_MS = 5000;
const PAGE = 50;
const STATES = ['active', 'free', 'cooling', 'invalid', 'disabled'];
const main = document.getElementById('main');
const view = { page: 1, state: '' };
let timer = null;
let last = null;

async function load() {
  clearTimeout(timer);
  let response;
  try {
    response = await send('GET', '/api/public/dashboard', { Accept: 'application/json' });
  } catch (_) {
    showMessage(t('error.network'), true);
    timer = setTimeout(load, REFRESH_MS);
    return;
  }
  const body = parse(response) || {};
  const code = body.error ? body.error.code : null;
  if (response.status === 200) {
    last = body;
    drawData();
    timer = setTimeout(load, REFRESH_MS);
  } else if (response.status === 401 && code === 'guest_login_required') {
    last = null;
    showGuestForm();
  } else if (response.status === 403) {
    last = null;
    showPrivate();
  } else {
    showMessage((body.error && body.error.message) || `HTTP ${response.status}`, true);
    timer = setTimeout(load, REFRESH_MS);
  }
}

function showMessage(text, isError) {
  main.replaceChildren(h('p', { class: `alert ${isError ? 'alert-error' : ''}`, role: isError ? 'alert' : 'status' }, text));
}

function showPrivate() {
  main.dataset.view = 'private';
  main.replaceChildren(h('section', { class: 'card narrow center', 'data-dashboard': 'private' },
    h('h1', {}, t('dash.private_title')),
    h('p', {}, t('dash.private')),
    h('a', { class: 'btn btn-primary', href: '/' }, t('dash.login_console'))));
}

function showGuestForm(message) {
  main.dataset.view = 'guest';
  const password = h('input', { type: 'password', autocomplete: 'current-password', required: true, name: 'password' });
  const error = h('p', { class: 'alert alert-error', role: 'alert', hidden: !message }, message || '');
  const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('dash.enter'));
  const form = h('form', { class: 'card narrow', 'data-dashboard': 'guest', onsubmit: async (e) => {
    e.preventDefault();
    if (!password.value) return password.focus();
    button.disabled = true;
    try {
      const response = await send('POST', '/api/public/login',
        { 'Content-Type': 'application/json', Accept: 'application/json' }, JSON.stringify({ password: password.value }));
      if (response.status === 200) return load();
      const body = parse(response) || {};
      error.textContent = response.status === 401 ? t('dash.wrong') : (body.error && body.error.message) || `HTTP ${response.status}`;
      error.hidden = false;
      password.select();
    } catch (_) {
      error.textContent = t('error.network');
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  } },
  h('h1', {}, t('dash.guest_title')),
  h('p', { class: 'muted' }, t('dash.guest')),
  field(t('dash.password'), password),
  error,
  button);
  main.replaceChildren(form);
  password.focus();
}

function drawData() {
  const d = last;
  if (!d) return;
  main.dataset.view = 'data';
  const counts = d.counts || {};
  const live = d.live || {};
  const keys = (d.keys || []).filter((k) => !view.state || k.state === view.state);
  const pages = Math.max(1, Math.ceil(keys.length / PAGE));
  view.page = Math.min(view.page, pages);
  const shown = keys.slice((view.page - 1) * PAGE, view.page * PAGE);
  const stateFilter = select([['', t('keys.all_states')], ...STATES.map((s) => [s, t(`state.${s}`)])], view.state, {
    onchange: (e) => { view.state = e.target.value; view.page = 1; drawData(); },
  });
  const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest('[data-keep]') : null;
  main.replaceChildren(
    h('section', { class: 'card', 'data-dashboard': 'data' },
      h('div', { class: 'card-head' }, h('h1', {}, t('dash.title')), h('span', { class: 'muted small' }, t('dash.auto'), ' · ', t('overview.updated', { time: new Date().toLocaleTimeString() }))),
      h('div', { class: 'grid grid-dense' },
        stat(t('overview.balance'), h('span', { 'data-value': 'pool_balance' }, fmtCny(d.pool_balance))),
        stat(t('overview.keys_total'), fmtInt(counts.total)),
        STATES.map((s) => stat(t(`state.${s}`), fmtInt(counts[s] || 0))))),
    h('section', { class: 'card' },
      h('h2', {}, t('overview.live')),
      h('div', { class: 'grid' },
        stat(t('overview.rpm'), h('span', { 'data-value': 'rpm' }, fmtInt(live.rpm))),
        stat(t('overview.tpm'), h('span', { 'data-value': 'tpm' }, fmtInt(live.tpm))),
        stat(t('overview.rpd'), fmtInt(live.rpd)),
        stat(t('overview.tpd'), fmtCompact(live.tpd)))),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, t('dash.keys')), h('div', { 'data-keep': '' }, field(t('keys.state_filter'), stateFilter))),
      tableWrap(h('table', { class: 'table dash-keys' },
        h('thead', {}, h('tr', {}, h('th', {}, t('keys.col.key')), h('th', {}, t('keys.col.state')), h('th', {}, t('keys.col.balance')))),
        h('tbody', {}, shown.length ? shown.map((k) => h('tr', {},
          h('td', { class: 'mono nowrap' }, k.key),
          h('td', {}, stateBadge(k.state)),
          h('td', { class: 'num' }, k.balance === null || k.balance === undefined ? h('span', { class: 'muted' }, t('keys.unknown')) : fmtCny(k.balance)))) : emptyRow(3, t('keys.none')))), t('dash.keys')),
      keys.length > PAGE ? pager({ total: keys.length, page: view.page, size: PAGE, onPage: (p) => { view.page = p; drawData(); } }) : null));
  if (focused) stateFilter.focus();
}

function boot() {
  applyStatic();
  bindLanguageSelects();
  onLanguageChange(() => {
    document.title = `${t('dash.title')} · keyflow`;
    if (last) drawData();
    else load();
  });
  document.title = `${t('dash.title')} · keyflow`;
  load();
}

boot();
