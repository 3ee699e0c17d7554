// The console's shell: session check, login form, hash routing between the
// pages (`#/keys`...), the language switch and logout. Each page module
// exports `render(main, ctx)` and may return a cleanup function that stops
// its timers when the operator leaves the page.

import { t, applyStatic, bindLanguageSelects, onLanguageChange } from './i18n.js';
import { api, setCsrf } from './api.js';
import { toastError } from './ui.js';
import * as overview from './page-overview.js';
import * as keys from './page-keys.js';
import * as models from './page-models.js';
import * as logs from './page-logs.js';
import * as stats from './page-stats.js';
import * as settings from './page-settings.js';

const PAGES = { overview, keys, models, logs, stats, settings };

const $ = (id) => document.getElementById(id);
let session = null;
let cleanup = null;

/** `#/logs?key=3` → `{name: 'logs', query: URLSearchParams}`. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name, qs] = raw.split('?');
  return { name: PAGES[name] ? name : 'overview', query: new URLSearchParams(qs || '') };
}

function stopPage() {
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
}

function route() {
  if (!session) return;
  stopPage();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  const { name, query } = parseHash();
  for (const link of document.querySelectorAll('.sidenav a[data-page]')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${t(`nav.${name}`)} · keyflow`;
  const main = $('main');
  main.replaceChildren();
  main.dataset.page = name;
  try {
    cleanup = PAGES[name].render(main, { query, session, signOut });
  } catch (error) {
    toastError(error);
  }
}

function showShell(s) {
  session = s;
  setCsrf(s.csrf_token);
  $('boot').hidden = true;
  $('login').hidden = true;
  $('shell').hidden = false;
  $('whoami').textContent = s.username;
  route();
}

function showLogin(message) {
  stopPage();
  session = null;
  setCsrf(null);
  $('boot').hidden = true;
  $('shell').hidden = true;
  $('main').replaceChildren();
  $('login').hidden = false;
  document.title = `${t('login.title')} · keyflow`;
  const error = $('login-error');
  error.hidden = !message;
  error.textContent = message || '';
  const user = $('login-username');
  (user.value ? $('login-password') : user).focus();
}

/** Ends the session on the server (if any) and shows the login page. */
async function signOut(message) {
  try {
    await api('POST', '/api/logout', { quiet401: true });
  } catch (_) {
    // The session may already be gone (password changed); the login page follows either way.
  }
  for (const d of document.querySelectorAll('dialog')) d.close();
  showLogin(message);
}

async function login(event) {
  event.preventDefault();
  const username = $('login-username').value.trim();
  const password = $('login-password').value;
  const error = $('login-error');
  if (!username || !password) {
    error.textContent = t('login.missing');
    error.hidden = false;
    return;
  }
  const button = $('login-submit');
  button.disabled = true;
  try {
    const s = await api('POST', '/api/login', { json: { username, password }, quiet401: true });
    $('login-password').value = '';
    if (!location.hash || location.hash === '#/login') location.hash = '#/overview';
    showShell(s);
  } catch (e) {
    error.hidden = false;
    if (e.status === 401) error.textContent = t('login.wrong');
    else if (e.status === 429) error.textContent = `${t('login.limited')} (${e.message})`;
    else error.textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

async function boot() {
  applyStatic();
  bindLanguageSelects();
  onLanguageChange(() => {
    if (session) route();
    else document.title = `${t('login.title')} · keyflow`;
  });
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  window.addEventListener('keyflow:unauthorized', () => {
    if (session) {
      for (const d of document.querySelectorAll('dialog')) d.close();
      showLogin(t('login.expired'));
    }
  });
  try {
    showShell(await api('GET', '/api/session', { quiet401: true }));
  } catch (e) {
    showLogin(e.status === 401 ? '' : e.message);
  }
}

boot();
