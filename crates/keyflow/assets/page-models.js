// Models: the upstream catalogue grouped by type, free or paid, with a ban
// switch per model (saved as `ban_models` in the live settings) and the
// price used for spend estimates, editable per model.

import { t, tOr } from './i18n.js';
import { api } from './api.js';
import { h, field, select, modal, fmtCny, fmtInt, tableWrap, emptyRow, toast, toastError, debounce } from './ui.js';

const view = { type: '', cls: '', q: '' };

export function render(main) {
  let items = [];
  let banned = new Set();
  let stopped = false;
  const body = h('div', { class: 'stack' }, h('p', { class: 'muted' }, t('common.loading')));
  const typeSelect = select([['', t('models.all_types')]], view.type, { onchange: (e) => { view.type = e.target.value; draw(); } });
  const classSelect = select([['', t('models.all_classes')], ['free', t('models.free')], ['paid', t('models.paid')], ['unknown', t('models.unknown')], ['banned', t('models.banned_only')]], view.cls,
    { onchange: (e) => { view.cls = e.target.value; draw(); } });
  const search = h('input', { type: 'search', value: view.q, placeholder: 'Qwen/…', autocomplete: 'off' });
  search.addEventListener('input', debounce(() => { view.q = search.value.trim().toLowerCase(); draw(); }, 200));
  const refreshButton = h('button', { type: 'button', class: 'btn', onclick: refreshCatalogue }, t('models.refresh'));

  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, t('models.title')), h('div', { class: 'actions' }, refreshButton)),
    h('p', { class: 'muted' }, t('models.intro')),
    h('div', { class: 'toolbar' }, field(t('models.type'), typeSelect), field(t('models.class'), classSelect), field(t('models.search'), search)),
    body);

  async function load() {
    try {
      const [models, settings] = await Promise.all([api('GET', '/api/models'), api('GET', '/api/settings')]);
      if (stopped) return;
      items = models.items || [];
      banned = new Set(settings.ban_models || []);
      const types = [...new Set(items.map((m) => m.type || 'other'))].sort();
      typeSelect.replaceChildren(...[['', t('models.all_types')], ...types.map((ty) => [ty, typeName(ty)])]
        .map(([v, label]) => h('option', { value: v, selected: v === view.type }, label)));
      draw();
    } catch (e) {
      toastError(e);
    }
  }

  function draw() {
    const shown = items.filter((m) => {
      if (view.type && (m.type || 'other') !== view.type) return false;
      if (view.q && !m.id.toLowerCase().includes(view.q)) return false;
      if (view.cls === 'banned') return banned.has(m.id);
      if (view.cls === 'free') return m.free === true;
      if (view.cls === 'paid') return m.free === false;
      if (view.cls === 'unknown') return m.free === null || m.free === undefined;
      return true;
    });
    const groups = new Map();
    for (const m of shown) {
      const ty = m.type || 'other';
      if (!groups.has(ty)) groups.set(ty, []);
      groups.get(ty).push(m);
    }
    const summary = h('p', { class: 'muted small' }, t('models.count', { shown: fmtInt(shown.length), total: fmtInt(items.length), banned: fmtInt(banned.size) }));
    if (!shown.length) {
      body.replaceChildren(summary, h('p', { class: 'card empty' }, items.length ? t('models.none_match') : t('models.none')));
      return;
    }
    body.replaceChildren(summary, ...[...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([ty, models]) =>
      h('section', { class: 'card' },
        h('h2', {}, typeName(ty), ' ', h('span', { class: 'muted small' }, `(${models.length})`)),
        tableWrap(h('table', { class: 'table models-table' },
          h('colgroup', {}, ['c-id', 'c-kind', 'c-class', 'c-price', 'c-ban', 'c-act'].map((c) => h('col', { class: c }))),
          h('thead', {}, h('tr', {},
            h('th', {}, t('models.col.id')), h('th', {}, t('models.col.sub_type')), h('th', {}, t('models.col.class')),
            h('th', {}, t('models.col.price')), h('th', {}, t('models.col.banned')), h('th', {}, h('span', { class: 'sr-only' }, t('keys.actions'))))),
          h('tbody', {}, models.length ? models.map(row) : emptyRow(6))), typeName(ty)))));
  }

  function row(m) {
    const isBanned = banned.has(m.id);
    const toggle = h('input', { type: 'checkbox', class: 'switch', checked: isBanned, 'aria-label': t('models.ban_one', { id: m.id }), onchange: (e) => setBanned(m.id, e.target.checked, e.target) });
    return h('tr', { dataset: { model: m.id }, class: isBanned ? 'is-banned' : null },
      h('td', { class: 'mono' }, m.id),
      h('td', {}, m.sub_type ? tOr(`models.sub.${m.sub_type}`, m.sub_type) : '—'),
      h('td', {}, classBadge(m)),
      h('td', { class: 'small' }, priceText(m.price)),
      h('td', {}, h('label', { class: 'switch-label' }, toggle, h('span', { class: 'sr-only' }, t('models.col.banned')))),
      h('td', {}, h('button', { type: 'button', class: 'btn btn-small', onclick: () => editPrice(m), 'aria-label': `${t('models.edit_price')} ${m.id}` }, t('models.edit_price'))));
  }

  async function setBanned(id, on, input) {
    input.disabled = true;
    try {
      // Read the list fresh so two open consoles do not undo each other.
      const current = new Set((await api('GET', '/api/settings')).ban_models || []);
      if (on) current.add(id);
      else current.delete(id);
      const saved = await api('PUT', '/api/settings', { json: { ban_models: [...current].sort() } });
      banned = new Set(saved.ban_models || []);
      toast(on ? t('models.banned_msg', { id }) : t('models.unbanned_msg', { id }), 'ok');
      draw();
    } catch (e) {
      input.checked = !on;
      toastError(e);
    } finally {
      input.disabled = false;
    }
  }

  function editPrice(m) {
    const p = m.price || {};
    const number = (name, value) => h('input', { type: 'number', min: 0, step: 'any', inputmode: 'decimal', name, value: value ?? 0 });
    const inputs = {
      input_per_m: number('input_per_m', p.input_per_m),
      output_per_m: number('output_per_m', p.output_per_m),
      per_image: number('per_image', p.per_image),
      per_m_chars: number('per_m_chars', p.per_m_chars),
    };
    const error = h('p', { class: 'alert alert-error', role: 'alert', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', form: 'price-form' }, t('action.save'));
    const { close } = modal({
      title: t('models.price_title', { id: m.id }),
      body: h('form', { id: 'price-form', class: 'stack', onsubmit: async (e) => {
        e.preventDefault();
        const body = {};
        for (const [k, input] of Object.entries(inputs)) body[k] = input.value === '' ? 0 : Number(input.value);
        try {
          const saved = await api('PUT', `/api/models/prices/${m.id.split('/').map(encodeURIComponent).join('/')}`, { json: body });
          m.price = saved;
          toast(t('models.price_saved', { id: m.id }), 'ok');
          close();
          draw();
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
        }
      } },
      h('p', { class: 'muted small' }, t('models.price_hint')),
      h('div', { class: 'grid grid-2' },
        field(t('models.input_per_m'), inputs.input_per_m),
        field(t('models.output_per_m'), inputs.output_per_m),
        field(t('models.per_image'), inputs.per_image),
        field(t('models.per_m_chars'), inputs.per_m_chars)),
      error),
      actions: [save],
    });
  }

  async function refreshCatalogue() {
    refreshButton.disabled = true;
    try {
      const answer = await api('POST', '/api/models/refresh');
      toast(t('models.refreshed', { n: answer.models }), 'ok');
      load();
    } catch (e) {
      toastError(e);
    } finally {
      refreshButton.disabled = false;
    }
  }

  load();
  return () => { stopped = true; };
}

function typeName(ty) {
  return tOr(`models.types.${ty}`, ty);
}

function classBadge(m) {
  if (m.free === true) return h('span', { class: 'badge badge-ok' }, t('models.free'));
  if (m.free === false) return h('span', { class: 'badge badge-info' }, t('models.paid'));
  return h('span', { class: 'badge' }, t('models.unknown'));
}

function priceText(p) {
  if (!p) return h('span', { class: 'muted' }, t('models.no_price'));
  const parts = [];
  if (p.input_per_m || p.output_per_m) parts.push(t('models.price_tokens', { input: fmtCny(p.input_per_m), output: fmtCny(p.output_per_m) }));
  if (p.per_image) parts.push(t('models.price_image', { price: fmtCny(p.per_image) }));
  if (p.per_m_chars) parts.push(t('models.price_chars', { price: fmtCny(p.per_m_chars) }));
  return parts.length ? parts.join(' · ') : fmtCny(0);
}
