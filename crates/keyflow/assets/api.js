// The console's one door to keyflow's JSON API: same-origin requests with
// the session cookie, the CSRF token on every state-changing call, errors
// turned into ApiError with the server's message, and a 401 anywhere
// announced as `keyflow:unauthorized` so the shell can show the login page.

import { t } from './i18n.js';

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token || null;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * One HTTP exchange; answers `{status, type, text}`.
 *
 * Every request says `X-Requested-With`, so the server leaves out the
 * `WWW-Authenticate` challenge it sends scripts: with it, a 401 would make
 * the browser open its own password dialog instead of showing our login.
 */
export async function send(method, path, headers = {}, body = null) {
  let response;
  try {
    response = await fetch(path, {
      method,
      body,
      credentials: 'same-origin',
      headers: { 'X-Requested-With': 'keyflow-console', ...headers },
    });
  } catch (_) {
    throw new ApiError(0, 'network', t('error.network'));
  }
  return { status: response.status, type: response.headers.get('content-type') || '', text: await response.text() };
}

/** Reads an answer's body: JSON when it says so, else the text. */
export function parse(answer) {
  if (answer.type.includes('application/json')) {
    try {
      return JSON.parse(answer.text);
    } catch (_) {
      return null;
    }
  }
  return answer.text;
}

/**
 * Calls the API. Options: `json` (a body to send as JSON), `text` (a
 * plain-text body), `quiet401` (do not announce a 401: used by the session
 * check and the login form). Answers the parsed JSON, or the text for
 * non-JSON answers.
 */
export async function api(method, path, options = {}) {
  const headers = { Accept: 'application/json', 'X-Requested-With': 'keyflow-console' };
  let body = null;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.text !== undefined) {
    headers['Content-Type'] = 'text/plain; charset=utf-8';
    body = options.text;
  }
  if (!SAFE_METHODS.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const answer = await send(method, path, headers, body);
  const payload = parse(answer);
  if (answer.status < 200 || answer.status >= 300) {
    if (answer.status === 401 && !options.quiet401) {
      window.dispatchEvent(new CustomEvent('keyflow:unauthorized'));
    }
    const err = payload && typeof payload === 'object' ? payload.error || {} : {};
    const message = err.message || (typeof payload === 'string' && payload.trim()) || `HTTP ${answer.status}`;
    throw new ApiError(answer.status, err.code || String(answer.status), message);
  }
  return payload;
}

/** Builds `path?query` from an object, skipping empty values. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}
