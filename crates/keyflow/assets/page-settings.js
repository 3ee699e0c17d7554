// Settings: the live settings (`GET/PUT /api/settings`, applied at once, no
// restart), with the server's validation message shown when it refuses a
// value; then client tokens and the password change (settings-access.js).

import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, toast, toastError } from './ui.js';
import { tokensSection, passwordSection } from './settings-access.js';

const STRATEGIES = ['random', 'round_robin', 'balance_desc', 'balance_asc', 'oldest', 'newest', 'least_used', 'most_used', 'least_inflight'];
const ACCESS = ['open', 'restricted', 'private'];

// `path` is where the value sits in the settings JSON; `type` decides the control.
const SECTIONS = [
  ['pool', [
    { path: 'key_strategy', type: 'choice', options: STRATEGIES, label: (v) => t(`strategy.${v}`) },
    { path: 'sticky_sessions', type: 'bool' },
    { path: 'key_rpm_limit', type: 'int', nullable: true },
    { path: 'max_retries', type: 'int' },
    { path: 'auto_refresh_interval_secs', type: 'int' },
  ]],
  ['timeouts', [
    { path: 'connect_timeout_secs', type: 'int' },
    { path: 'first_byte_timeout_secs', type: 'int' },
    { path: 'idle_timeout_secs', type: 'int' },
  ]],
  ['models', [
    { path: 'ban_models', type: 'list' },
    { path: 'free_models', type: 'list' },
  ]],
  ['access', [
    { path: 'access_control', type: 'choice', options: ACCESS, label: (v) => t(`access.${v}`) },
    { path: 'guest_password', type: 'secret' },
  ]],
  ['console', [
    { path: 'page_size', type: 'int' },
    { path: 'log_retention_days', type: 'int' },
    { path: 'stats_time_zone', type: 'text', nullable: true, placeholder: 'Asia/Shanghai' },
  ]],
  ['images', [
    { path: 'image.max_images_per_request', type: 'int' },
    { path: 'image.image_prompt_model', type: 'text' },
    { path: 'image.prompt_expansion', type: 'bool' },
    { path: 'image.prompt_expansion_timeout_secs', type: 'int' },
    { path: 'image.banned_keywords', type: 'list' },
    { path: 'image.use_lsky_pro', type: 'bool' },
    { path: 'image.lsky_url', type: 'text', nullable: true, placeholder: 'https://lsky.example.com' },
    { path: 'image.lsky_token', type: 'secret' },
    { path: 'image.use_shortlink', type: 'bool' },
    { path: 'image.shortlink_url', type: 'text', nullable: true, placeholder: 'https://s.example.com' },
    { path: 'image.shortlink_api_key', type: 'secret' },
  ]],
];

const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
function put(obj, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  let o = obj;
  for (const k of keys) o = o[k] || (o[k] = {});
  o[last] = value;
}

export function render(main, ctx) {
  let stopped = false;
  const controls = new Map();
  const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true, 'data-settings-error': '' });
  const saveButton = h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'save-settings' }, t('action.save'));
  const form = h('form', { class: 'stack settings-form', novalidate: true, onsubmit: save });

  for (const [section, fields] of SECTIONS) {
    form.append(h('fieldset', { class: 'card' },
      h('legend', {}, t(`settings.section.${section}`)),
      h('div', { class: 'settings-grid' }, fields.map(control))));
  }
  form.append(h('div', { class: 'savebar' }, error, h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'btn', onclick: load }, t('settings.revert')), saveButton)));

  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, t('settings.title'))),
    h('p', { class: 'muted' }, t('settings.intro')),
    form,
    tokensSection(),
    passwordSection(ctx.signOut));

  function control(f) {
    const name = f.path.replace('.', '_');
    const label = t(`settings.f.${name}`);
    const hint = t(`settings.h.${name}`);
    let input;
    if (f.type === 'bool') {
      input = h('input', { type: 'checkbox', name: f.path });
      const wrapper = h('div', { class: 'field field-check' }, h('label', { class: 'check-label' }, input, label), h('small', { class: 'hint' }, hint));
      controls.set(f.path, { f, input, wrapper });
      return wrapper;
    }
    if (f.type === 'choice') input = select(f.options.map((o) => [o, f.label(o)]), '', { name: f.path });
    else if (f.type === 'list') input = h('textarea', { rows: 3, name: f.path, class: 'mono', spellcheck: 'false' });
    else if (f.type === 'secret') input = h('input', { type: 'password', name: f.path, autocomplete: 'new-password' });
    else if (f.type === 'int') input = h('input', { type: 'number', min: 0, step: 1, inputmode: 'numeric', name: f.path, placeholder: f.nullable ? t('settings.off') : '' });
    else input = h('input', { type: 'text', name: f.path, placeholder: f.placeholder || '', autocomplete: 'off' });
    controls.set(f.path, { f, input });
    const wrapper = field(label, input, hint);
    controls.get(f.path).wrapper = wrapper;
    return wrapper;
  }

  // Settings given by flag, environment or keyflow.toml win at every start:
  // say so beside the control, naming where the value came from.
  function markPinned(origins) {
    for (const [path, { wrapper }] of controls) {
      if (!wrapper) continue;
      wrapper.querySelector('[data-pinned]')?.remove();
      const origin = origins[path];
      if (origin) wrapper.append(h('small', { class: 'hint', 'data-pinned': path }, t('settings.pinned', { origin })));
    }
  }

  function fill(settings) {
    for (const { f, input } of controls.values()) {
      const v = get(settings, f.path);
      if (f.type === 'bool') input.checked = !!v;
      else if (f.type === 'list') input.value = (v || []).join('\n');
      else input.value = v === null || v === undefined ? '' : String(v);
    }
  }

  function collect() {
    const out = {};
    for (const { f, input } of controls.values()) {
      let v;
      if (f.type === 'bool') v = input.checked;
      else if (f.type === 'list') v = input.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
      else if (f.type === 'int') v = input.value.trim() === '' ? (f.nullable ? null : 0) : Number(input.value);
      else if (f.type === 'secret' || f.nullable) v = input.value === '' ? null : input.value;
      else v = input.value;
      put(out, f.path, v);
    }
    return out;
  }

  async function load() {
    error.hidden = true;
    try {
      const [settings, origins] = await Promise.all([api('GET', '/api/settings'), api('GET', '/api/settings/origins')]);
      if (!stopped) {
        fill(settings);
        markPinned(origins);
      }
    } catch (e) {
      toastError(e);
    }
  }

  async function save(event) {
    event.preventDefault();
    error.hidden = true;
    saveButton.disabled = true;
    try {
      const saved = await api('PUT', '/api/settings', { json: collect() });
      fill(saved);
      toast(t('settings.saved'), 'ok');
    } catch (e) {
      if (e.status === 401) return;
      error.replaceChildren(h('strong', {}, t('settings.invalid')), ' ', e.message);
      error.hidden = false;
      error.scrollIntoView({ block: 'nearest' });
    } finally {
      saveButton.disabled = false;
    }
  }

  load();
  return () => { stopped = true; };
}
