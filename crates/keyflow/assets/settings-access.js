// Who may use keyflow: client tokens (environment ones read-only; console
// ones created with a scope, RPM limit and spend quota, their value shown
// once) and the admin password change, which ends every console session.

import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, modal, fmtCny, fmtSecs, tableWrap, emptyRow, toast, toastError, confirmDialog, copyText } from './ui.js';

export function tokensSection() {
  const tableBox = h('div', {}, h('p', { class: 'muted' }, t('common.loading')));
  const name = h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const scope = select([['all', t('tokens.scope_all')], ['free', t('tokens.scope_free')]], 'all', { name: 'scope' });
  const rpm = h('input', { type: 'number', min: 1, step: 1, name: 'rpm_limit', inputmode: 'numeric', placeholder: t('settings.off') });
  const quota = h('input', { type: 'number', min: 0, step: 'any', name: 'spend_quota', inputmode: 'decimal', placeholder: t('settings.off') });
  const error = h('p', { class: 'alert alert-error', role: 'alert', hidden: true });

  async function load() {
    try {
      const { items } = await api('GET', '/api/tokens');
      tableBox.replaceChildren(table(items || []));
    } catch (e) {
      toastError(e);
    }
  }

  function table(items) {
    const head = h('tr', {}, ['name', 'token', 'scope', 'rpm', 'quota', 'spent', 'created', 'source'].map((c) => h('th', {}, t(`tokens.col.${c}`))), h('th', {}, h('span', { class: 'sr-only' }, t('keys.actions'))));
    const rows = items.map((x) => h('tr', { dataset: { token: x.name } },
      h('td', {}, x.name),
      h('td', { class: 'mono nowrap' }, x.token),
      h('td', {}, h('span', { class: `badge ${x.scope === 'free' ? 'badge-ok' : 'badge-info'}` }, x.scope === 'free' ? t('tokens.scope_free') : t('tokens.scope_all'))),
      h('td', { class: 'num' }, x.rpm_limit ?? '—'),
      h('td', { class: 'num' }, x.spend_quota === null || x.spend_quota === undefined ? '—' : fmtCny(x.spend_quota)),
      h('td', { class: 'num' }, fmtCny(x.spent || 0)),
      h('td', { class: 'nowrap' }, fmtSecs(x.created_at)),
      h('td', {}, x.source === 'env' ? h('span', { class: 'badge' }, t('tokens.env')) : t('tokens.console')),
      h('td', {}, x.read_only
        ? h('span', { class: 'muted small' }, t('tokens.read_only'))
        : h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `${t('tokens.revoke')} ${x.name}`, onclick: () => revoke(x) }, t('tokens.revoke')))));
    return tableWrap(h('table', { class: 'table tokens-table' }, h('thead', {}, head), h('tbody', {}, rows.length ? rows : emptyRow(9, t('tokens.none')))), t('tokens.title'));
  }

  async function revoke(x) {
    if (!(await confirmDialog(t('tokens.confirm_revoke', { name: x.name }), { okText: t('tokens.revoke') }))) return;
    try {
      await api('DELETE', `/api/tokens/${x.id}`);
      toast(t('tokens.revoked', { name: x.name }), 'ok');
      load();
    } catch (e) {
      toastError(e);
    }
  }

  async function create(event) {
    event.preventDefault();
    error.hidden = true;
    const body = { name: name.value.trim(), scope: scope.value };
    if (rpm.value.trim()) body.rpm_limit = Number(rpm.value);
    if (quota.value.trim()) body.spend_quota = Number(quota.value);
    if (!body.name) {
      name.focus();
      return;
    }
    try {
      const created = await api('POST', '/api/tokens', { json: body });
      name.value = '';
      rpm.value = '';
      quota.value = '';
      showOnce(created);
      load();
    } catch (e) {
      if (e.status === 401) return;
      error.textContent = e.message;
      error.hidden = false;
    }
  }

  load();
  return h('section', { class: 'card', id: 'tokens' },
    h('h2', {}, t('tokens.title')),
    h('p', { class: 'muted small' }, t('tokens.intro')),
    tableBox,
    h('form', { class: 'stack', onsubmit: create, 'data-form': 'new-token' },
      h('h3', { class: 'spaced' }, t('tokens.new')),
      h('div', { class: 'toolbar' },
        field(t('tokens.col.name'), name), field(t('tokens.col.scope'), scope), field(t('tokens.col.rpm'), rpm), field(t('tokens.quota_cny'), quota),
        h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'create-token' }, t('tokens.create')))),
      error));
}

/** The new token's full value, shown this one time. */
function showOnce(created) {
  const value = h('input', { class: 'mono token-value', readonly: true, value: created.token, 'data-new-token': '', 'aria-label': t('tokens.value') });
  const copy = h('button', { type: 'button', class: 'btn btn-primary', onclick: async () => toast((await copyText(created.token)) ? t('export.copied') : t('export.copy_failed'), 'ok') }, t('export.copy'));
  modal({
    title: t('tokens.created', { name: created.name }),
    body: h('div', { class: 'stack' },
      h('p', { class: 'alert alert-warn' }, t('tokens.once')),
      value,
      h('p', { class: 'muted small' }, t('tokens.usage'))),
    actions: [copy],
  });
  value.select();
}

export function passwordSection(signOut) {
  const current = h('input', { type: 'password', name: 'current', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', name: 'new', autocomplete: 'new-password', minlength: 8, required: true, placeholder: t('password.hint') });
  const again = h('input', { type: 'password', name: 'again', autocomplete: 'new-password', minlength: 8, required: true });
  const error = h('p', { class: 'alert alert-error', role: 'alert', hidden: true });
  const submit = async (event) => {
    event.preventDefault();
    error.hidden = true;
    const fail = (message) => { error.textContent = message; error.hidden = false; };
    if (next.value.length < 8) return fail(t('password.short'));
    if (next.value !== again.value) return fail(t('password.mismatch'));
    try {
      await api('POST', '/api/password', { json: { current: current.value, new: next.value } });
      toast(t('password.changed'), 'ok');
      signOut(t('password.changed'));
    } catch (e) {
      if (e.status !== 401) fail(e.message);
    }
  };
  return h('section', { class: 'card', id: 'password' },
    h('h2', {}, t('password.title')),
    h('p', { class: 'muted small' }, t('password.intro')),
    h('form', { class: 'toolbar', onsubmit: submit },
      field(t('password.current'), current), field(t('password.new'), next), field(t('password.again'), again),
      h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn' }, t('password.submit')))),
    error);
}
