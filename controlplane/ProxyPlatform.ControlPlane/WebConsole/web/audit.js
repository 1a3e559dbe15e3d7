// The audit trail: who changed what, with the before/after diff, and a roll-back from an entry.
import { api, get, enc, ApiError } from './api.js';
import { h, clear, table, badge, ago, fmt } from './dom.js';
import { renderDiff } from './config.js';
import { showBanner } from './shared.js';

// Flattens a JSON value to {"a.b[0]": leaf} so two versions compare field by field.
function flatten(value, prefix = '', out = {}) {
  if (value && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v]) : Object.entries(value).map(([k, v]) => [prefix ? `.${k}` : k, v]);
    if (!entries.length) out[prefix] = Array.isArray(value) ? '[]' : '{}';
    for (const [k, v] of entries) flatten(v, prefix + k, out);
  } else out[prefix] = value;
  return out;
}

export function beforeAfter(before, after) {
  const a = flatten(before ?? {}), b = flatten(after ?? {});
  const paths = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const rows = paths.filter(p => JSON.stringify(a[p]) !== JSON.stringify(b[p])).map(p => h('tr', null,
    h('td', { class: 'mono' }, p || '(whole)'),
    h('td', null, p in a ? h('del', null, fmt(a[p])) : h('span', { class: 'muted' }, '—')),
    h('td', null, p in b ? h('ins', null, fmt(b[p])) : h('span', { class: 'muted' }, '—'))));
  return table(['Field', 'Before', 'After'], rows, { class: 'diff-table', 'data-testid': 'audit-diff' });
}

export async function auditList(context, path, tenant) {
  const box = h('div');
  const more = h('button', { type: 'button', hidden: true }, 'Older entries');
  const body = h('tbody');
  let next = null;
  const load = async () => {
    const sep = path.includes('?') ? '&' : '?';
    let data;
    try {
      data = await get(next ? `${path}${sep}limit=50&after=${enc(next)}` : `${path}${sep}limit=50`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && !(e.problem?.detail || '').includes(`tenant`)) {
        clear(box, h('p', { class: 'error' }, 'This control plane does not keep an audit trail yet (GET /v1/audit).'));
        return;
      }
      throw e;
    }
    const items = Array.isArray(data) ? data : data.items || [];
    next = Array.isArray(data) ? null : data.next;
    more.hidden = !next;
    for (const entry of items) body.append(...entryRows(entry));
    if (!body.children.length) body.append(h('tr', null, h('td', { colspan: 6, class: 'muted' }, 'No changes recorded.')));
  };
  more.addEventListener('click', () => load().catch(e => showBanner(e.message)));
  clear(box, h('div', { class: 'table-wrap' }, h('table', { id: 'audit' },
    h('thead', null, h('tr', null, ['Time', 'Actor', 'Action', 'Resource', 'Revision', ''].map(x => h('th', null, x)))), body)), more);
  await load();
  return box;
}

function entryRows(entry) {
  const detail = h('td', { colspan: 6 });
  const detailRow = h('tr', { class: 'audit-detail', hidden: true }, detail);
  const show = () => {
    if (!detailRow.hidden) { detailRow.hidden = true; return; }
    detailRow.hidden = false;
    const parts = [beforeAfter(entry.before, entry.after), entry.requestId ? h('p', { class: 'muted' }, `request ${entry.requestId}`) : null];
    if (entry.tenant && entry.revision > 1) parts.push(rollback(entry));
    clear(detail, parts);
  };
  const actor = entry.actor || {};
  return [
    h('tr', { dataset: { audit: entry.id, action: entry.action } },
      h('td', null, h('time', { datetime: entry.time, title: entry.time }, ago(entry.time))),
      h('td', null, actor.name || actor.id || '—', actor.name && actor.id && actor.id !== actor.name ? h('div', { class: 'muted mono' }, actor.id) : null),
      h('td', null, badge(entry.action, 'info')),
      h('td', { class: 'mono' }, entry.resource),
      h('td', null, fmt(entry.revision)),
      h('td', null, h('button', { type: 'button', class: 'small', onclick: show }, 'Diff'))),
    detailRow,
  ];
}

// Rolls the tenant back to the revision before this entry's change: a dry run first, then the real one.
function rollback(entry) {
  const target = entry.revision - 1;
  const url = `/v1/tenants/${enc(entry.tenant)}/rollback`;
  const out = h('div');
  const confirm = h('button', { type: 'button', class: 'warn', hidden: true, 'data-testid': 'rollback-confirm' }, `Roll back to revision ${target}`);
  const start = h('button', { type: 'button', 'data-testid': 'rollback' }, `Undo: preview roll-back to revision ${target}`);
  start.addEventListener('click', async () => {
    try {
      const answer = await api('POST', `${url}?dryRun=true`, { revision: target });
      clear(out, renderDiff(answer.data?.diff));
      confirm.hidden = !!answer.data?.unchanged;
    } catch (e) { clear(out, h('p', { class: 'error', role: 'alert' }, e.message)); }
  });
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      const answer = await api('POST', url, { revision: target });
      clear(out, h('p', { class: 'ok', 'data-testid': 'rollback-done' }, `Rolled back: now revision ${answer.data?.revision ?? '—'}.`), renderDiff(answer.data?.diff));
      confirm.hidden = true;
    } catch (e) { clear(out, h('p', { class: 'error', role: 'alert' }, e.message)); confirm.disabled = false; }
  });
  return h('div', { class: 'buttons' }, start, confirm, out);
}
