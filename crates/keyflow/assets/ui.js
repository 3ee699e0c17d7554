// Small DOM helpers shared by the console pages and the public dashboard.
// Everything from the server is put into the page as text nodes, never as
// HTML, so a key's last error or a model name cannot inject markup.

import { t, locale } from './i18n.js';

/** `h('button', {class: 'btn', onclick}, 'text', child, [more])`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (['value', 'checked', 'selected', 'indeterminate'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let idCounter = 0;
/** A fresh element id, for `<label for>`. */
export function uid(prefix = 'f') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form control: `field(t('x'), h('input', {...}), hint)`. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const hintEl = hint ? h('small', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** A `<select>` from `[value, label]` pairs. */
export function select(options, value, props = {}) {
  return h('select', props, options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value) }, label)));
}

// ---- formatting -------------------------------------------------------------

const dash = '—';

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return dash;
  return new Intl.NumberFormat(locale()).format(Math.round(n));
}

/** Large counts short: 12.3K / 1.2万. */
export function fmtCompact(n) {
  if (n === null || n === undefined) return dash;
  return new Intl.NumberFormat(locale(), { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

/** CNY with 2 decimals, or up to 4 for small amounts (per-request costs). */
export function fmtCny(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return dash;
  const small = Math.abs(n) > 0 && Math.abs(n) < 1;
  return '¥' + new Intl.NumberFormat(locale(), {
    minimumFractionDigits: 2,
    maximumFractionDigits: small ? 4 : 2,
  }).format(n);
}

export function fmtPercent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return dash;
  return `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}%`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return dash;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** Unix milliseconds as local date and time. */
export function fmtTime(ms) {
  if (!ms) return dash;
  return new Date(ms).toLocaleString(locale(), { dateStyle: 'short', timeStyle: 'medium' });
}

/** Unix seconds as local date and time. */
export function fmtSecs(secs) {
  return secs ? fmtTime(secs * 1000) : dash;
}

/** Seconds until `untilSecs` (Unix), as "42 s" / "3 min". */
export function fmtUntil(untilSecs) {
  if (!untilSecs) return dash;
  const left = Math.max(0, Math.round(untilSecs - Date.now() / 1000));
  if (left < 120) return t('time.seconds', { n: left });
  return t('time.minutes', { n: Math.round(left / 60) });
}

export function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, t(`state.${state}`));
}

// ---- feedback ---------------------------------------------------------------

/** A short message in the corner; `kind` is info, ok or error. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** Shows an API failure unless it is the 401 that sends us to the login page. */
export function toastError(error) {
  if (error && error.status === 401) return;
  toast(error && error.message ? error.message : String(error), 'error');
}

/**
 * A modal dialog. `build(close)` returns the body; `actions` are buttons.
 * Answers `{dialog, close}`; the dialog is removed from the page on close.
 */
export function modal({ title, body, actions = [], wide = false, drawer = false, onClose }) {
  const titleId = uid('dlg');
  const close = () => dialog.close();
  const dialog = h('dialog', { class: `modal${wide ? ' wide' : ''}${drawer ? ' drawer' : ''}`, 'aria-labelledby': titleId },
    h('header', { class: 'modal-head' },
      h('h2', { id: titleId }, title),
      h('button', { type: 'button', class: 'btn btn-ghost icon', 'aria-label': t('action.close'), onclick: close }, '×')),
    h('div', { class: 'modal-body' }, body),
    actions.length ? h('footer', { class: 'modal-foot' }, actions) : null);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** Asks to confirm; resolves true or false. */
export function confirmDialog(message, { okText, danger = true } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, 'data-confirm': 'ok' }, okText || t('action.confirm'));
    const cancel = h('button', { type: 'button', class: 'btn' }, t('action.cancel'));
    const { close } = modal({
      title: t('confirm.title'),
      body: h('p', {}, message),
      actions: [cancel, ok],
      onClose: () => resolve(answer),
    });
    ok.addEventListener('click', () => { answer = true; close(); });
    cancel.addEventListener('click', close);
    cancel.focus();
  });
}

/** Previous / next paging with the item count. */
export function pager({ total, page, size, onPage }) {
  const pages = Math.max(1, Math.ceil(total / size));
  return h('nav', { class: 'pager', 'aria-label': t('pager.label') },
    h('button', { type: 'button', class: 'btn', disabled: page <= 1, onclick: () => onPage(page - 1), 'aria-label': t('pager.prev') }, '‹'),
    h('span', { class: 'pager-text' }, t('pager.text', { page, pages, total: fmtInt(total) })),
    h('button', { type: 'button', class: 'btn', disabled: page >= pages, onclick: () => onPage(page + 1), 'aria-label': t('pager.next') }, '›'));
}

/** A figure tile: label above, value below. */
export function stat(label, value, extra) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), extra ? h('div', { class: 'stat-extra' }, extra) : null);
}

/** Wraps a table so it scrolls sideways on narrow screens. */
export function tableWrap(table, label) {
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: 0 }, table);
}

export function emptyRow(cols, text) {
  return h('tr', {}, h('td', { colspan: cols, class: 'empty' }, text || t('table.empty')));
}

/** Calls `fn` after `ms` of quiet. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Copies text; falls back to a selected textarea where the API is missing. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const area = h('textarea', { class: 'offscreen' });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** Offers `text` as a file download. */
export function download(filename, text, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'offscreen' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
