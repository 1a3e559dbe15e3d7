// The console's shell: log-in, navigation and a hash router (#/tenants/acme: nothing secret in a URL).
import { get, list, session, onAuthFailure, ApiError } from './api.js';
import { h, clear } from './dom.js';
import * as pages from './pages.js';
import { state, showBanner } from './shared.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const toggle = document.getElementById('menu-toggle');

let cleanup = null;
let generation = 0;

onAuthFailure(error => {
  session.key = null;
  renderLogin(error.message);
});

toggle.addEventListener('click', () => {
  const open = nav.classList.toggle('open');
  toggle.setAttribute('aria-expanded', String(open));
});

function renderNav() {
  const links = [['#/tenants', 'Tenants']];
  if (state.operator) links.push(['#/pools', 'Pools & workers'], ['#/audit', 'Audit']);
  const current = location.hash || '#/tenants';
  clear(nav, links.map(([href, text]) => h('a', { href, class: current.startsWith(href) ? 'active' : null }, text)));
  nav.hidden = false;
  toggle.hidden = false;
  clear(who,
    h('span', { class: 'role', 'data-testid': 'role' }, state.operator ? 'operator' : `tenant ${state.tenants.map(t => t.id).join(', ')}`),
    h('button', { type: 'button', class: 'link', onclick: logout }, 'Log out'));
}

function logout() {
  session.key = null;
  state.operator = false;
  renderLogin();
}

export function renderLogin(message) {
  if (cleanup) { cleanup(); cleanup = null; }
  generation++;
  nav.hidden = true;
  toggle.hidden = true;
  clear(who);
  showBanner(null);
  const input = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', placeholder: 'ppk_…' });
  const error = h('p', { class: 'error', id: 'login-error', role: 'alert', hidden: !message }, message || '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'card login', id: 'login' },
    h('h1', null, 'Log in'),
    h('p', { class: 'muted' }, 'Enter an API key. It is kept in this browser tab only (session storage) and sent to the control plane\'s /v1 API as a bearer token; an operator key sees everything, a tenant key its tenant.'),
    h('label', { for: 'key' }, 'API key'), input, error, button);
  form.addEventListener('submit', async event => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    error.hidden = true;
    try {
      await identify(key);
      session.key = key;
      input.value = '';
      if (!location.hash || location.hash === '#/login') location.hash = '#/tenants';
      else route();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  clear(main, form);
  input.focus();
}

// What the key may see: its tenants, and whether it is an operator's (pools answer operators only).
async function identify(key) {
  const tenants = await list('/v1/tenants', { key, quiet: true });
  let operator = false;
  try {
    await get('/v1/pools?limit=1', { key, quiet: true });
    operator = true;
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 404)) throw e;
  }
  state.tenants = tenants;
  state.operator = operator;
}

const routes = [
  [/^#\/tenants\/?$/, () => pages.tenants],
  [/^#\/tenants\/([^/]+)\/?$/, () => pages.tenant],
  [/^#\/tenants\/([^/]+)\/traffic$/, () => pages.traffic],
  [/^#\/tenants\/([^/]+)\/config$/, () => pages.config],
  [/^#\/tenants\/([^/]+)\/audit$/, () => pages.tenantAudit],
  [/^#\/tenants\/([^/]+)\/routes\/([^/]+)\/edit$/, () => pages.editRoute],
  [/^#\/tenants\/([^/]+)\/clusters\/([^/]+)\/edit$/, () => pages.editCluster],
  [/^#\/pools\/?$/, () => pages.pools],
  [/^#\/revisions\/(\d+)$/, () => pages.revision],
  [/^#\/audit\/?$/, () => pages.audit],
];

export async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const mine = ++generation;
  if (!session.key) { renderLogin(); return; }
  if (!state.tenants.length && !state.operator) {
    try { await identify(session.key); } catch (e) {
      if (e.status === 401) { session.key = null; renderLogin(e.message); return; }
      showBanner(e.message);
    }
    if (mine !== generation) return;
  }
  nav.classList.remove('open');
  toggle.setAttribute('aria-expanded', 'false');
  renderNav();
  showBanner(null);
  const hash = location.hash || '#/tenants';
  for (const [pattern, page] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    const params = match.slice(1).map(decodeURIComponent);
    clear(main, h('p', { class: 'muted' }, 'Loading…'));
    const context = {
      alive: () => mine === generation,
      onLeave: fn => { const previous = cleanup; cleanup = () => { fn(); if (previous) previous(); }; },
    };
    try {
      const view = await page()(context, ...params);
      if (mine === generation && view) clear(main, view);
    } catch (e) {
      if (mine !== generation) return;
      if (e instanceof ApiError && e.status === 401) return;
      clear(main, h('div', { class: 'card' }, h('h1', null, 'Cannot show this page'), h('p', { class: 'error', role: 'alert', 'data-testid': 'page-error' }, e.message)));
    }
    return;
  }
  clear(main, h('div', { class: 'card' }, h('h1', null, 'Not found'), h('p', null, 'No page answers ', hash, '.')));
}


window.addEventListener('hashchange', route);
route();
