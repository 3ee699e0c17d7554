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
 * Why XMLHttpRequest and not fetch: keyflow answers a 401 with
 * `WWW-Authenticate: Basic` (for scripts), and a fetch that meets that
 * challenge makes the browser open its own password dialog (headless
 * Chromium just hangs). An XHR opened with explicit credentials gets the 401
 * back instead. The placeholder credentials match no admin; the server then
 * goes by the session cookie.
 */
export function send(method, path, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path, true, 'keyflow-console', '');
    xhr.withCredentials = true;
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.onload = () => resolve({ status: xhr.status, type: xhr.getResponseHeader('content-type') || '', text: xhr.responseText });
    xhr.onerror = () => reject(new ApiError(0, 'network', t('error.network')));
    xhr.ontimeout = xhr.onerror;
    xhr.send(body);
  });
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
