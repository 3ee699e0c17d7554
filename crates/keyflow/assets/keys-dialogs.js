// The keys page's two dialogs: import (paste or a file, optional upstream
// check, then a summary of added / already present / malformed / invalid)
// and export (sort, order, separator, balances, filter; download or copy).

import { t } from './i18n.js';
import { api, withQuery } from './api.js';
import { h, field, select, modal, stat, fmtInt, fmtCny, toast, toastError, copyText, download, tableWrap } from './ui.js';

/** Opens the import dialog; `onDone` reloads the list after an import. */
export function openImport(onDone) {
  const area = h('textarea', { rows: 9, class: 'mono', spellcheck: 'false', placeholder: 'sk-…\nsk-…(14.00)\nsk-…, sk-…', 'data-field': 'keys' });
  const file = h('input', { type: 'file', accept: '.txt,.csv,.text,text/plain' });
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    const text = await f.text();
    area.value = area.value.trim() ? `${area.value.trim()}\n${text}` : text;
  });
  const validate = h('input', { type: 'checkbox', checked: true });
  const result = h('div', { class: 'import-result', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', form: 'import-form', 'data-action': 'do-import' }, t('keys.import'));
  const form = h('form', { id: 'import-form', class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    if (!area.value.trim()) {
      area.focus();
      return toast(t('import.empty'), 'error');
    }
    submit.disabled = true;
    submit.textContent = validate.checked ? t('import.checking') : t('import.importing');
    try {
      const report = await api('POST', withQuery('/api/keys', { validate: validate.checked }), { text: area.value });
      result.replaceChildren(summary(report));
      area.value = '';
      onDone();
    } catch (err) {
      toastError(err);
    } finally {
      submit.disabled = false;
      submit.textContent = t('keys.import');
    }
  } },
  field(t('import.paste'), area, t('import.paste_hint')),
  field(t('import.file'), file),
  h('label', { class: 'check-label' }, validate, t('import.validate')),
  result);
  modal({ title: t('import.title'), body: form, wide: true, actions: [submit] });
  area.focus();
}

function summary(report) {
  const details = report.details || [];
  const shown = details.slice(0, 200);
  const rows = shown.map((d) => h('tr', {},
    h('td', { class: 'mono nowrap' }, d.key),
    h('td', {}, h('span', { class: `badge result-${d.result}` }, t(`import.${d.result}`))),
    h('td', {}, d.state ? t(`state.${d.state}`) : '—'),
    h('td', { class: 'num' }, d.balance === null || d.balance === undefined ? '—' : fmtCny(d.balance)),
    h('td', { class: 'wrap-text' }, d.error || '')));
  return h('div', { class: 'stack', 'data-import-summary': '' },
    h('div', { class: 'grid grid-4' },
      stat(t('import.added'), h('span', { 'data-count': 'added' }, fmtInt(report.added))),
      stat(t('import.already_present'), h('span', { 'data-count': 'already_present' }, fmtInt(report.already_present))),
      stat(t('import.malformed'), h('span', { 'data-count': 'malformed' }, fmtInt(report.malformed))),
      stat(t('import.invalid'), h('span', { 'data-count': 'invalid' }, fmtInt(report.invalid)))),
    details.length ? h('details', {},
      h('summary', {}, t('import.details', { n: details.length })),
      tableWrap(h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['keys.col.key', 'import.result', 'keys.col.state', 'keys.col.balance', 'keys.col.last_error'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, rows)), t('import.details', { n: details.length })),
      details.length > shown.length ? h('p', { class: 'muted small' }, t('import.more', { n: details.length - shown.length })) : null) : null);
}

/** Opens the export dialog; the text is fetched again on every change. */
export function openExport() {
  const sort = select([['balance', t('export.by_balance')], ['key', t('export.by_key')]], 'balance');
  const order = select([['desc', t('export.desc')], ['asc', t('export.asc')]], 'desc');
  const sep = select([['newline', t('export.newline')], ['comma', t('export.comma')]], 'newline');
  const filter = select([['all', t('export.all')], ['funded', t('export.funded')], ['empty', t('export.empty')]], 'all');
  const withBalance = h('input', { type: 'checkbox' });
  const output = h('textarea', { rows: 10, class: 'mono', readonly: true, spellcheck: 'false', 'data-field': 'export' });
  const count = h('p', { class: 'muted small', 'aria-live': 'polite' });
  let text = '';
  let generation = 0;

  const refresh = async () => {
    const mine = ++generation;
    count.textContent = t('common.loading');
    try {
      const answer = await api('GET', withQuery('/api/keys/export', {
        sort: sort.value, order: order.value, sep: sep.value, with_balance: withBalance.checked, filter: filter.value,
      }));
      if (mine !== generation) return;
      text = typeof answer === 'string' ? answer : '';
      output.value = text;
      const n = text.split(sep.value === 'comma' ? ',' : '\n').filter((s) => s.trim()).length;
      count.textContent = t('export.count', { n: fmtInt(n) });
    } catch (e) {
      toastError(e);
    }
  };
  sort.addEventListener('change', () => {
    // Balances read best biggest first; keys alphabetically.
    order.value = sort.value === 'balance' ? 'desc' : 'asc';
    refresh();
  });
  for (const control of [order, sep, filter, withBalance]) control.addEventListener('change', refresh);

  const stamp = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const copy = h('button', { type: 'button', class: 'btn', 'data-action': 'copy', onclick: async () => {
    toast((await copyText(text)) ? t('export.copied') : t('export.copy_failed'), 'ok');
  } }, t('export.copy'));
  const save = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'download', onclick: () => download(`keyflow-keys-${stamp}.txt`, text) }, t('export.download'));
  modal({
    title: t('export.title'),
    wide: true,
    body: h('div', { class: 'stack' },
      h('div', { class: 'toolbar' },
        field(t('export.sort'), sort), field(t('export.order'), order), field(t('export.sep'), sep), field(t('export.filter'), filter)),
      h('label', { class: 'check-label' }, withBalance, t('export.with_balance')),
      h('p', { class: 'alert alert-warn' }, t('export.warning')),
      field(t('export.text'), output),
      count),
    actions: [copy, save],
  });
  refresh();
}
