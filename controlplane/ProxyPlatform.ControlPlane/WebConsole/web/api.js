// The console's only way to the server: the /v1 API of the same origin, with the key of this browser
// session as a bearer token. The key lives in sessionStorage (gone when the tab closes), never in a URL.
const KEY = 'pp.key';

export class ApiError extends Error {
  constructor(status, problem, message) {
    super(message);
    this.status = status;
    this.problem = problem || {};
  }
  // Field errors of a validation problem: [{field, message}]
  get fieldErrors() {
    const p = this.problem;
    if (Array.isArray(p.errors)) return p.errors.filter(e => e && e.field);
    if (p.field) return [{ field: p.field, message: p.detail || p.title }];
    return [];
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY); },
};

const listeners = new Set();
export function onAuthFailure(fn) { listeners.add(fn); }

export function describe(status, problem) {
  if (status === 401) return 'The API key was not accepted (401): it is unknown, revoked or expired. Log in again with a valid key.';
  if (status === 403) return `This key may not do that (403)${problem && problem.detail ? ': ' + problem.detail : '.'}`;
  if (problem && (problem.detail || problem.title)) return `${problem.title || 'Error'} (${status})${problem.detail ? ': ' + problem.detail : ''}`;
  return `The control plane answered ${status}.`;
}

export async function api(method, path, body, options = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  const key = options.key ?? session.key;
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.ifMatch) headers['If-Match'] = options.ifMatch;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, null, `The control plane could not be reached (${e.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!response.ok) {
    const problem = data && typeof data === 'object' ? data : null;
    const error = new ApiError(response.status, problem, describe(response.status, problem));
    if (response.status === 401 && !options.quiet) listeners.forEach(fn => fn(error));
    throw error;
  }
  return { data, status: response.status, etag: response.headers.get('ETag') };
}

export const get = async (path, options) => (await api('GET', path, undefined, options)).data;

// Lists answer {items, next} (paged) or, from older servers, a plain array: every page, either way.
export async function list(path, options) {
  const items = [];
  let after = null;
  for (let page = 0; page < 50; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const url = after ? `${path}${sep}after=${encodeURIComponent(after)}` : path;
    const data = await get(url, options);
    if (Array.isArray(data)) return data;
    items.push(...(data && data.items || []));
    after = data && data.next;
    if (!after) break;
  }
  return items;
}

export const enc = encodeURIComponent;
