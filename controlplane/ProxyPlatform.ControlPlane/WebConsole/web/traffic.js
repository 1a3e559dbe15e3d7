// Live traffic per route: requests/s by status class and latency percentiles over the last 15 minutes,
// from /v1/tenants/{t}/metrics/history, polled every 5 s and drawn with Chart.js (from npm).
import { get, enc } from './api.js';
import { h, clear } from './dom.js';

const CLASSES = ['2xx', '3xx', '4xx', '5xx', '1xx'];
const COLORS = { '1xx': '#8a8a8a', '2xx': '#2e8b57', '3xx': '#3b73b9', '4xx': '#d9a21b', '5xx': '#c0392b', p50Ms: '#3b73b9', p90Ms: '#8e44ad', p99Ms: '#c0392b' };
const POLL_MS = 5000;

const label = time => new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function chartOf(canvas, series, yTitle, stacked) {
  return new window.Chart(canvas, {
    type: 'line',
    data: { labels: [], datasets: series.map(s => ({ label: s, data: [], borderColor: COLORS[s], backgroundColor: COLORS[s] + '55', fill: stacked, pointRadius: 1.5, spanGaps: true, borderWidth: 2, tension: 0.2 })) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: 'index', intersect: false },
      scales: { x: { ticks: { maxTicksLimit: 8, autoSkip: true } }, y: { beginAtZero: true, stacked, title: { display: true, text: yTitle } } },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    },
  });
}

export function trafficCharts(context, tenant) {
  const status = h('p', { class: 'muted', id: 'traffic-status', 'aria-live': 'polite' }, 'Loading…');
  const grid = h('div', { class: 'charts' });
  const root = h('div', null, status, grid);
  const cards = new Map();

  function card(route) {
    let c = cards.get(route);
    if (c) return c;
    const rates = h('canvas', { 'aria-label': `requests per second of ${route} by status class`, role: 'img' });
    const latency = h('canvas', { 'aria-label': `latency percentiles of ${route}`, role: 'img' });
    const summary = h('p', { class: 'summary' });
    const el = h('article', { class: 'card chart-card', dataset: { route } },
      h('h3', null, route), summary,
      h('div', { class: 'chart-pair' }, h('div', { class: 'chart' }, rates), h('div', { class: 'chart' }, latency)));
    grid.append(el);
    c = { el, summary, rates: chartOf(rates, CLASSES, 'requests/s', true), latency: chartOf(latency, ['p50Ms', 'p90Ms', 'p99Ms'], 'ms', false) };
    cards.set(route, c);
    return c;
  }

  async function poll() {
    const history = await get(`/v1/tenants/${enc(tenant)}/metrics/history?window=15m`);
    if (!context.alive()) return;
    const routes = history.routes || [];
    status.textContent = routes.length
      ? `${routes.length} route(s) with traffic · updated ${new Date().toLocaleTimeString()}`
      : 'No route has reported traffic in the last 15 minutes.';
    for (const r of routes) {
      const c = card(r.route);
      const points = r.points || [];
      const labels = points.map(p => label(p.time));
      c.rates.data.labels = labels;
      c.rates.data.datasets.forEach(ds => { ds.data = points.map(p => (p.ratePerStatusClass || {})[ds.label] ?? 0); });
      c.latency.data.labels = labels;
      c.latency.data.datasets.forEach(ds => { ds.data = points.map(p => (p.latency || {})[ds.label] ?? null); });
      c.rates.update('none');
      c.latency.update('none');
      const step = history.stepSeconds || 5;
      const total = Math.round(points.reduce((sum, p) => sum + (p.requestsPerSecond || 0) * step, 0));
      const last = points.length ? points[points.length - 1] : null;
      const latest = [...points].reverse().find(p => p.latency && p.latency.p99Ms != null);
      // The figures the charts show, as text too (for screen readers, and for tests to read).
      c.el.dataset.requests = String(total);
      c.el.dataset.points = String(points.length);
      c.summary.textContent = `${total} requests in the window · now ${(last?.requestsPerSecond ?? 0).toFixed(2)}/s` +
        (latest ? ` · p50 ${latest.latency.p50Ms} ms, p99 ${latest.latency.p99Ms} ms` : '');
    }
  }

  poll().catch(e => { status.textContent = e.message; status.className = 'error'; });
  const timer = setInterval(() => poll().catch(e => { status.textContent = e.message; status.className = 'error'; }), POLL_MS);
  context.onLeave(() => { clearInterval(timer); cards.forEach(c => { c.rates.destroy(); c.latency.destroy(); }); });
  return root;
}
