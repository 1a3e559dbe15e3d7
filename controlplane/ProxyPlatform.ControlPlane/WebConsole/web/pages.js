// The console's pages. Each takes the router's context and its URL parameters and returns a node.
import { api, get, list, enc, ApiError } from './api.js';
import { h, clear, table, badge, ago, fmt } from './dom.js';
import { state, showBanner } from './shared.js';
import { trafficCharts } from './traffic.js';
import { yamlEditor } from './config.js';
import { auditList } from './audit.js';

const tenantPath = t => `/v1/tenants/${enc(t)}`;

function tabs(tenant, current) {
  const items = [['', 'Routes & clusters'], ['/traffic', 'Traffic'], ['/config', 'Configuration'], ['/audit', 'Audit']];
  return h('nav', { class: 'tabs' }, items.map(([suffix, text]) =>
    h('a', { href: `#/tenants/${enc(tenant)}${suffix}`, class: suffix === current ? 'active' : null }, text)));
}

function heading(title, ...rest) {
  return h('div', { class: 'page-head' }, h('h1', null, title), ...rest);
}

// ---- Tenants ----
export async function tenants() {
  const items = await list('/v1/tenants');
  const details = await Promise.all(items.map(t => get(`${tenantPath(t.id)}`).catch(() => t)));
  const rows = details.map(t => h('tr', { dataset: { tenant: t.id } },
    h('td', null, h('a', { href: `#/tenants/${enc(t.id)}` }, t.id), t.displayName && t.displayName !== t.id ? h('div', { class: 'muted' }, t.displayName) : null),
    h('td', null, (t.hostnames || []).map(x => h('div', { class: 'mono' }, x))),
    h('td', null, t.pool || 'default'),
    h('td', null, quotaUse(t)),
    h('td', null, (t.conflicts || []).length ? badge(`${t.conflicts.length} conflict(s)`, 'unhealthy') : badge('ok', 'healthy'))));
  return h('section', null, heading('Tenants', h('span', { class: 'muted' }, `${items.length} tenant(s)`)),
    table(['Tenant', 'Hosts', 'Pool', 'Quotas (use / limit)', 'Status'], rows, { id: 'tenants' }));
}

function quotaUse(t) {
  const usage = t.usage || {};
  const names = Object.keys(usage);
  if (!names.length) return h('span', { class: 'muted' }, fmt(t.quotas));
  return h('ul', { class: 'quotas' }, names.map(name => {
    const { use, limit } = usage[name];
    const ratio = limit ? Math.min(use / limit, 1) : 0;
    return h('li', null, h('span', { class: 'quota-name' }, name.replace(/^max/, '')), ' ',
      h('meter', { min: 0, max: limit || 1, value: use, high: (limit || 1) * 0.8, title: `${use} of ${limit}` }),
      ' ', h('span', { class: 'mono' }, `${use} / ${limit ?? '∞'}`), ratio >= 1 ? badge('full', 'unhealthy') : null);
  }));
}

// ---- One tenant: routes, clusters, backends ----
async function clustersOf(tenant, routes) {
  try {
    return await list(`${tenantPath(tenant)}/clusters`, { quiet: true });
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
  }
  // Control planes before the clusters list: the configuration document, else the routes' clusters.
  try {
    const doc = await get(`${tenantPath(tenant)}/config`, { quiet: true });
    return Object.entries(doc.clusters || {}).map(([id, c]) => ({ id, ...c }));
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
  }
  const ids = [...new Set(routes.map(r => r.cluster).filter(Boolean))].sort();
  return Promise.all(ids.map(id => get(`${tenantPath(tenant)}/clusters/${enc(id)}`).catch(() => ({ id }))));
}

export async function tenant(context, t) {
  const [info, routes] = await Promise.all([get(tenantPath(t)), list(`${tenantPath(t)}/routes`)]);
  const clusters = await clustersOf(t, routes);
  const canWrite = true; // the API decides; a viewer's write answers 403 with a message
  const routeRows = routes.map(r => {
    const m = r.match || {};
    const limits = [
      r.rateLimit ? `${r.rateLimit.requestsPerSecond}/s burst ${r.rateLimit.burst ?? '—'} by ${r.rateLimit.key || 'client-ip'}` : null,
      r.timeoutSeconds ? `timeout ${r.timeoutSeconds} s` : null,
      r.maxRequestBodyBytes ? `body ≤ ${r.maxRequestBodyBytes} B` : null,
    ].filter(Boolean);
    return h('tr', { dataset: { route: r.id } },
      h('td', null, h('strong', null, r.id)),
      h('td', { class: 'mono' }, [(m.hosts || []).join(', ') || '*', ' ', m.pathPrefix || m.path || '/', m.methods && m.methods.length ? ` [${m.methods.join(',')}]` : '',
        m.headers && Object.keys(m.headers).length ? ` ${Object.entries(m.headers).map(([k, v]) => `${k}=${v}`).join(' ')}` : '']),
      h('td', null, r.cluster),
      h('td', null, [r.stripPrefix ? badge('strip', 'info') : null, r.preserveHost ? badge('preserve host', 'info') : null]),
      h('td', null, limits.length ? limits.join('; ') : h('span', { class: 'muted' }, 'none')),
      h('td', null, canWrite ? h('a', { href: `#/tenants/${enc(t)}/routes/${enc(r.id)}/edit`, class: 'button small' }, 'Edit') : null));
  });
  const clusterCards = await Promise.all(clusters.map(c => clusterCard(context, t, c)));
  return h('section', null,
    heading(info.displayName && info.displayName !== t ? `${t} — ${info.displayName}` : t, h('span', { class: 'muted' }, `pool ${info.pool || 'default'} · hosts ${(info.hostnames || []).join(', ')}`)),
    tabs(t, ''),
    h('div', { class: 'section-head' }, h('h2', null, 'Routes'), h('a', { href: `#/tenants/${enc(t)}/routes/new/edit`, class: 'button small' }, 'New route')),
    table(['Route', 'Match', 'Cluster', 'Options', 'Limits', ''], routeRows, { id: 'routes' }),
    h('div', { class: 'section-head' }, h('h2', null, 'Clusters'), h('a', { href: `#/tenants/${enc(t)}/clusters/new/edit`, class: 'button small' }, 'New cluster')),
    clusterCards.length ? clusterCards : h('p', { class: 'muted' }, 'No clusters.'));
}

async function clusterCard(context, t, c) {
  const base = `${tenantPath(t)}/clusters/${enc(c.id)}`;
  const body = h('div', { class: 'backends' });
  const card = h('article', { class: 'card cluster', dataset: { cluster: c.id } },
    h('div', { class: 'section-head' },
      h('h3', null, c.id, ' ', h('span', { class: 'muted' }, c.loadBalancing || '')),
      h('a', { href: `#/tenants/${enc(t)}/clusters/${enc(c.id)}/edit`, class: 'button small' }, 'Edit')),
    c.healthCheck ? h('p', { class: 'muted' }, `health check ${c.healthCheck.path || '/'} every ${c.healthCheck.intervalSeconds ?? '?'} s`) : null,
    body);
  const load = async () => {
    const backends = await list(`${base}/backends`);
    if (!context.alive()) return;
    clear(body, table(['Backend', 'Address', 'Weight', 'Verdict', 'Workers\' view', ''], backends.map(b => backendRow(t, c.id, b, load))));
  };
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  context.onLeave(() => clearInterval(timer));
  return card;
}

function backendRow(t, cluster, b, reload) {
  const health = b.health || {};
  const enabled = b.enabled !== false;
  const verdict = enabled ? (health.verdict || 'unknown') : 'draining';
  const history = h('div', { class: 'history', hidden: true });
  const toggleHistory = async () => {
    if (!history.hidden) { history.hidden = true; return; }
    history.hidden = false;
    clear(history, h('span', { class: 'muted' }, 'Loading…'));
    try {
      const changes = await list(`${tenantPath(t)}/clusters/${enc(cluster)}/backends/${enc(b.id)}/health-history?limit=20`);
      clear(history, changes.length ? h('ol', { class: 'timeline' }, changes.map(x =>
        h('li', null, badge(x.verdict), ' ', h('time', { datetime: x.at, title: x.at }, ago(x.at)),
          ` · ${x.failing ?? 0} failing / ${x.passing ?? 0} passing of ${x.reporting ?? 0} reporting`, x.revision ? ` · revision ${x.revision}` : '')))
        : h('span', { class: 'muted' }, 'No verdict changes yet.'));
    } catch (e) { clear(history, h('span', { class: 'error' }, e.message)); }
  };
  const message = h('span', { class: 'error', role: 'alert' });
  const action = h('button', {
    type: 'button', class: enabled ? 'small warn' : 'small', dataset: { action: enabled ? 'drain' : 'enable' },
    onclick: async event => {
      event.target.disabled = true;
      try {
        await api('PUT', `${tenantPath(t)}/clusters/${enc(cluster)}/backends/${enc(b.id)}`,
          { address: b.address, weight: b.weight ?? 1, enabled: !enabled });
        await reload();
      } catch (e) { message.textContent = e.message; event.target.disabled = false; }
    },
  }, enabled ? 'Drain' : 'Enable');
  return [
    h('tr', { dataset: { backend: b.id, verdict } },
      h('td', null, h('strong', null, b.id)),
      h('td', { class: 'mono' }, b.address),
      h('td', null, fmt(b.weight ?? 1)),
      h('td', null, badge(verdict), health.since ? h('div', { class: 'muted' }, 'since ', h('time', { datetime: health.since, title: health.since }, ago(health.since))) : null),
      h('td', null, (health.workers || []).map(w => h('div', { class: 'worker-view' }, h('span', { class: 'mono' }, w.worker), ' ', badge(w.view),
        w.latencyMs ? ` ${w.latencyMs} ms` : '', w.reason ? h('span', { class: 'muted' }, ` ${w.reason}`) : null, w.outlier ? badge('outlier', 'unhealthy') : null))),
      h('td', { class: 'actions' }, action, ' ', h('button', { type: 'button', class: 'small link', onclick: toggleHistory }, 'History'), message)),
    h('tr', { class: 'history-row' }, h('td', { colspan: 6 }, history)),
  ];
}

// ---- Edit forms: the API's field errors are shown next to their fields ----
function field(label, name, input, hint) {
  input.name = name;
  input.id = `f-${name}`;
  return h('div', { class: 'field', dataset: { field: name } },
    h('label', { for: input.id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null,
    h('p', { class: 'field-error', role: 'alert', hidden: true }));
}
const text = (value, attrs) => h('input', { type: 'text', value: value ?? '', ...attrs });
const num = (value, attrs) => h('input', { type: 'number', value: value ?? '', step: 'any', ...attrs });
const check = value => h('input', { type: 'checkbox', checked: !!value });
const csv = s => s.split(',').map(x => x.trim()).filter(Boolean);
const optNum = s => (s === '' || s === undefined ? undefined : Number(s));

// Field paths of problems ("match.pathPrefix", "$.match.pathPrefix", "spec.timeoutSeconds") to the form's fields.
function showFieldErrors(form, error, general) {
  form.querySelectorAll('.field-error').forEach(p => { p.hidden = true; p.textContent = ''; });
  form.querySelectorAll('.field.invalid').forEach(f => f.classList.remove('invalid'));
  const unplaced = [];
  for (const { field: name, message } of error.fieldErrors || []) {
    const key = String(name).replace(/^\$\.?/, '').replace(/^(spec|body)\./, '').replace(/\[\d+\]/g, '');
    const candidates = [...form.querySelectorAll('.field')];
    const target = candidates.find(f => f.dataset.field.toLowerCase() === key.toLowerCase())
      || candidates.find(f => key.toLowerCase().startsWith(f.dataset.field.toLowerCase() + '.'))
      || candidates.find(f => f.dataset.field.toLowerCase().startsWith(key.toLowerCase() + '.'))
      || candidates.find(f => f.dataset.field.split('.').pop().toLowerCase() === key.split('.').pop().toLowerCase());
    if (target) {
      const p = target.querySelector('.field-error');
      p.textContent = p.textContent ? `${p.textContent} ${message}` : message;
      p.hidden = false;
      target.classList.add('invalid');
    } else unplaced.push(`${name}: ${message}`);
  }
  general.textContent = [error.message, ...unplaced].join(' ');
  general.hidden = false;
}

function strip(resource) {
  const copy = structuredClone(resource || {});
  for (const k of ['tenant', 'id', 'revision', 'rejectedBy', 'overlaps', 'cluster_', 'backends']) delete copy[k];
  return copy;
}

export async function editRoute(context, t, id) {
  const isNew = id === 'new';
  const r = isNew ? { match: {}, cluster: '' } : await get(`${tenantPath(t)}/routes/${enc(id)}`);
  const m = r.match || {};
  const f = {
    id: text(isNew ? '' : id, { disabled: !isNew, pattern: '[a-z0-9][a-z0-9-]{0,62}' }),
    hosts: text((m.hosts || []).join(', ')),
    pathPrefix: text(m.pathPrefix ?? ''),
    methods: text((m.methods || []).join(', ')),
    cluster: text(r.cluster),
    stripPrefix: check(r.stripPrefix),
    preserveHost: check(r.preserveHost),
    priority: num(r.priority ?? 0),
    timeoutSeconds: num(r.timeoutSeconds),
    maxRequestBodyBytes: num(r.maxRequestBodyBytes),
    rps: num(r.rateLimit?.requestsPerSecond),
    burst: num(r.rateLimit?.burst),
    rlKey: text(r.rateLimit?.key ?? ''),
  };
  const general = h('p', { class: 'error', role: 'alert', hidden: true, id: 'form-error' });
  const form = h('form', { class: 'card form', id: 'route-form', novalidate: true },
    field('Route ID', 'id', f.id),
    field('Hosts', 'match.hosts', f.hosts, 'comma-separated; empty: all of the tenant\'s hosts'),
    field('Path prefix', 'match.pathPrefix', f.pathPrefix),
    field('Methods', 'match.methods', f.methods, 'comma-separated; empty: any'),
    field('Cluster', 'cluster', f.cluster),
    h('div', { class: 'row' }, field('Strip prefix', 'stripPrefix', f.stripPrefix), field('Preserve host', 'preserveHost', f.preserveHost)),
    h('div', { class: 'row' }, field('Priority', 'priority', f.priority), field('Timeout (s)', 'timeoutSeconds', f.timeoutSeconds), field('Max body (bytes)', 'maxRequestBodyBytes', f.maxRequestBodyBytes)),
    h('fieldset', null, h('legend', null, 'Rate limit'), h('div', { class: 'row' },
      field('Requests/s', 'rateLimit.requestsPerSecond', f.rps), field('Burst', 'rateLimit.burst', f.burst), field('Key', 'rateLimit.key', f.rlKey, 'client-ip or header:<name>'))),
    general,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('a', { href: `#/tenants/${enc(t)}`, class: 'button' }, 'Cancel')));
  form.addEventListener('submit', async event => {
    event.preventDefault();
    const routeId = isNew ? f.id.value.trim() : id;
    const body = strip(r);
    body.match = { ...(r.match || {}), pathPrefix: f.pathPrefix.value || undefined, hosts: csv(f.hosts.value), methods: csv(f.methods.value) };
    if (!body.match.hosts.length) delete body.match.hosts;
    if (!body.match.methods.length) delete body.match.methods;
    body.cluster = f.cluster.value.trim();
    body.stripPrefix = f.stripPrefix.checked;
    body.preserveHost = f.preserveHost.checked;
    body.priority = optNum(f.priority.value) ?? 0;
    body.timeoutSeconds = optNum(f.timeoutSeconds.value) ?? null;
    body.maxRequestBodyBytes = optNum(f.maxRequestBodyBytes.value) ?? null;
    body.rateLimit = f.rps.value === '' ? null : { requestsPerSecond: optNum(f.rps.value), burst: optNum(f.burst.value), key: f.rlKey.value || undefined };
    if (!routeId) { showFieldErrors(form, new ApiError(400, { errors: [{ field: 'id', message: 'Give the route an ID.' }] }, 'The route needs an ID.'), general); return; }
    try {
      await api('PUT', `${tenantPath(t)}/routes/${enc(routeId)}`, body);
      showBanner(`Route ${routeId} saved.`, 'ok');
      location.hash = `#/tenants/${enc(t)}`;
    } catch (e) { showFieldErrors(form, e, general); }
  });
  return h('section', null, heading(isNew ? 'New route' : `Route ${id}`, h('span', { class: 'muted' }, `tenant ${t}`)), tabs(t, null), form);
}

export async function editCluster(context, t, id) {
  const isNew = id === 'new';
  const c = isNew ? {} : await get(`${tenantPath(t)}/clusters/${enc(id)}`);
  const hc = c.healthCheck || {};
  const lb = h('select', null, ['RoundRobin', 'WeightedRoundRobin', 'LeastRequests', 'PowerOfTwoChoices', 'Random'].map(x =>
    h('option', { value: x, selected: (c.loadBalancing || 'RoundRobin') === x }, x)));
  const f = {
    id: text(isNew ? '' : id, { disabled: !isNew }),
    hcPath: text(hc.path ?? ''), hcInterval: num(hc.intervalSeconds), hcTimeout: num(hc.timeoutSeconds),
    hcHealthy: num(hc.healthyThreshold), hcUnhealthy: num(hc.unhealthyThreshold),
    retries: num(c.retry?.maxAttempts), cbFailures: num(c.circuitBreaker?.consecutiveFailures), cbOpen: num(c.circuitBreaker?.openSeconds),
    connect: num(c.timeouts?.connectSeconds), headers: num(c.timeouts?.responseHeadersSeconds),
  };
  const general = h('p', { class: 'error', role: 'alert', hidden: true, id: 'form-error' });
  const form = h('form', { class: 'card form', id: 'cluster-form', novalidate: true },
    field('Cluster ID', 'id', f.id),
    field('Load balancing', 'loadBalancing', lb),
    h('fieldset', null, h('legend', null, 'Health check (active)'),
      field('Path', 'healthCheck.path', f.hcPath, 'empty: no active health check'),
      h('div', { class: 'row' }, field('Interval (s)', 'healthCheck.intervalSeconds', f.hcInterval), field('Timeout (s)', 'healthCheck.timeoutSeconds', f.hcTimeout)),
      h('div', { class: 'row' }, field('Healthy threshold', 'healthCheck.healthyThreshold', f.hcHealthy), field('Unhealthy threshold', 'healthCheck.unhealthyThreshold', f.hcUnhealthy))),
    h('fieldset', null, h('legend', null, 'Resilience'), h('div', { class: 'row' },
      field('Retry attempts', 'retry.maxAttempts', f.retries),
      field('Breaker: failures', 'circuitBreaker.consecutiveFailures', f.cbFailures),
      field('Breaker: open (s)', 'circuitBreaker.openSeconds', f.cbOpen))),
    h('fieldset', null, h('legend', null, 'Timeouts'), h('div', { class: 'row' },
      field('Connect (s)', 'timeouts.connectSeconds', f.connect), field('Response headers (s)', 'timeouts.responseHeadersSeconds', f.headers))),
    general,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('a', { href: `#/tenants/${enc(t)}`, class: 'button' }, 'Cancel')));
  form.addEventListener('submit', async event => {
    event.preventDefault();
    const clusterId = isNew ? f.id.value.trim() : id;
    const body = strip(c);
    body.loadBalancing = lb.value;
    body.healthCheck = f.hcPath.value === '' && f.hcInterval.value === '' ? null : {
      ...(c.healthCheck || {}), path: f.hcPath.value, intervalSeconds: optNum(f.hcInterval.value), timeoutSeconds: optNum(f.hcTimeout.value),
      healthyThreshold: optNum(f.hcHealthy.value), unhealthyThreshold: optNum(f.hcUnhealthy.value),
    };
    if (f.retries.value !== '') body.retry = { ...(c.retry || {}), maxAttempts: optNum(f.retries.value) };
    if (f.cbFailures.value !== '' || f.cbOpen.value !== '') body.circuitBreaker = { ...(c.circuitBreaker || {}), consecutiveFailures: optNum(f.cbFailures.value), openSeconds: optNum(f.cbOpen.value) };
    if (f.connect.value !== '' || f.headers.value !== '') body.timeouts = { ...(c.timeouts || {}), connectSeconds: optNum(f.connect.value), responseHeadersSeconds: optNum(f.headers.value) };
    if (!clusterId) { showFieldErrors(form, new ApiError(400, { errors: [{ field: 'id', message: 'Give the cluster an ID.' }] }, 'The cluster needs an ID.'), general); return; }
    try {
      await api('PUT', `${tenantPath(t)}/clusters/${enc(clusterId)}`, body);
      showBanner(`Cluster ${clusterId} saved.`, 'ok');
      location.hash = `#/tenants/${enc(t)}`;
    } catch (e) { showFieldErrors(form, e, general); }
  });
  return h('section', null, heading(isNew ? 'New cluster' : `Cluster ${id}`, h('span', { class: 'muted' }, `tenant ${t}`)), tabs(t, null), form);
}

// ---- Traffic, configuration, audit of a tenant ----
export async function traffic(context, t) {
  await get(tenantPath(t));
  return h('section', null, heading(`${t}: traffic`, h('span', { class: 'muted' }, 'last 15 minutes, 5 s steps, live')), tabs(t, '/traffic'), trafficCharts(context, t));
}

export async function config(context, t) {
  await get(tenantPath(t));
  return h('section', null, heading(`${t}: configuration`), tabs(t, '/config'), await yamlEditor(context, t));
}

export async function tenantAudit(context, t) {
  await get(tenantPath(t));
  return h('section', null, heading(`${t}: audit trail`), tabs(t, '/audit'), await auditList(context, `${tenantPath(t)}/audit`, t));
}

export async function audit(context) {
  return h('section', null, heading('Audit trail', h('span', { class: 'muted' }, 'every accepted change, newest first')), await auditList(context, '/v1/audit', null));
}

// ---- Pools, workers, rollouts ----
export async function pools(context) {
  const poolsBox = h('div');
  const workersBox = h('div');
  const load = async () => {
    const [poolList, workers] = await Promise.all([list('/v1/pools'), list('/v1/dataplanes')]);
    if (!context.alive()) return;
    clear(poolsBox, table(['Pool', 'Provider', 'Desired', 'Ready', 'Actual', 'Autoscale', 'Scale'], poolList.map(poolRow)));
    clear(workersBox, table(['Worker', 'Pool', 'State', 'Applied revision', 'Lag', 'Convergence', 'Last NACK', 'Rejected'], workers.map(w => h('tr', { dataset: { worker: w.id } },
      h('td', null, h('strong', null, w.id), w.node ? h('div', { class: 'muted' }, w.node) : null),
      h('td', null, w.pool),
      h('td', null, badge(w.state || w.status || (w.connected ? 'connected' : 'disconnected'))),
      h('td', null, w.appliedRevision != null ? h('a', { href: `#/revisions/${w.appliedRevision}` }, String(w.appliedRevision)) : '—'),
      h('td', null, w.lag ? `${w.lag.revisions ?? 0} rev${w.lag.seconds != null ? `, ${Math.round(w.lag.seconds)} s` : ''}` : '—'),
      h('td', null, w.convergence && w.convergence.p50Ms != null ? `p50 ${w.convergence.p50Ms} ms, p99 ${w.convergence.p99Ms} ms` : '—'),
      h('td', null, w.lastNack ? [`rev ${w.lastNack.revision}: `, h('span', { class: 'error' }, w.lastNack.reason), h('div', { class: 'muted' }, ago(w.lastNack.at))] : h('span', { class: 'muted' }, 'none')),
      h('td', null, (w.rejected || []).length ? (w.rejected).map(r => h('div', { class: 'error' }, `${r.resource}: ${r.reason}`)) : h('span', { class: 'muted' }, 'none'))))));
  };
  await load();
  const timer = setInterval(() => load().catch(e => showBanner(e.message)), 5000);
  context.onLeave(() => clearInterval(timer));
  const revisionInput = h('input', { type: 'number', min: 1, placeholder: 'revision', id: 'revision-input' });
  const lookup = h('form', { class: 'inline' }, h('label', { for: 'revision-input' }, 'Rollout of revision '), revisionInput, h('button', { type: 'submit' }, 'Show'));
  lookup.addEventListener('submit', e => { e.preventDefault(); if (revisionInput.value) location.hash = `#/revisions/${revisionInput.value}`; });
  return h('section', null, heading('Pools & workers'), h('h2', null, 'Pools'), poolsBox, h('h2', null, 'Workers'), lookup, workersBox);
}

function poolRow(p) {
  const input = h('input', { type: 'number', min: 0, value: p.replicas ?? p.desiredReplicas ?? '', class: 'narrow', 'aria-label': `replicas of ${p.id}` });
  const message = h('span', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'inline' }, input, h('button', { type: 'submit', class: 'small' }, 'Scale'), message);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    message.textContent = '';
    try {
      await api('PATCH', `/v1/pools/${enc(p.id)}`, { replicas: Number(input.value) });
      showBanner(`Pool ${p.id} scaled to ${input.value}.`, 'ok');
    } catch (err) { message.textContent = err.message; }
  });
  const a = p.autoscale;
  return h('tr', { dataset: { pool: p.id } },
    h('td', null, h('strong', null, p.id)),
    h('td', null, p.provider || '—'),
    h('td', null, fmt(p.desiredReplicas ?? p.replicas)),
    h('td', null, fmt(p.readyReplicas)),
    h('td', null, fmt(p.actualReplicas)),
    h('td', null, a ? `${a.minReplicas}–${a.maxReplicas} at ${a.targetRequestsPerSecondPerReplica}/s` : 'off'),
    h('td', null, form));
}

export async function revision(context, r) {
  const rollout = await get(`/v1/revisions/${enc(r)}`);
  return h('section', null, heading(`Revision ${r}`, badge(rollout.complete ? 'complete' : 'pending', rollout.complete ? 'healthy' : 'draining')),
    h('p', { class: 'muted' }, `pool ${rollout.pool ?? '—'} · committed ${rollout.committedAt ? ago(rollout.committedAt) : '—'}`),
    table(['Worker', 'Connected', 'Applied revision', 'Has it', 'After', 'State'], (rollout.workers || []).map(w => h('tr', { dataset: { worker: w.id } },
      h('td', null, w.id), h('td', null, w.connected ? 'yes' : 'no'), h('td', null, fmt(w.appliedRevision)),
      h('td', null, badge(w.applied ? 'applied' : 'pending', w.applied ? 'healthy' : 'draining')),
      h('td', null, w.appliedAfterMs != null ? `${w.appliedAfterMs} ms` : '—'), h('td', null, fmt(w.state))))),
    h('p', null, h('a', { href: state.operator ? '#/pools' : '#/tenants' }, '← back')));
}
