// The tenant's whole configuration as YAML (js-yaml from npm): edit, see the dry-run diff, then apply.
import yaml from './vendor/js-yaml.mjs';
import { api, enc, ApiError } from './api.js';
import { h, clear, fmt } from './dom.js';
import { showBanner } from './shared.js';

export function renderDiff(diff) {
  const added = diff?.added || [], changed = diff?.changed || [], removed = diff?.removed || [];
  if (!added.length && !changed.length && !removed.length) return h('p', { class: 'muted', 'data-testid': 'diff-empty' }, 'No change.');
  return h('div', { class: 'diff', 'data-testid': 'diff' },
    added.map(a => h('div', { class: 'diff-add' }, `+ ${a.kind} ${a.id}`, a.after ? h('pre', null, yaml.dump(a.after)) : null)),
    changed.map(c => h('div', { class: 'diff-change' }, `~ ${c.kind} ${c.id}`,
      h('ul', null, (c.fields || []).map(f => h('li', null, h('span', { class: 'mono' }, f.path), ': ',
        h('del', null, fmt(f.before)), ' → ', h('ins', null, fmt(f.after))))))),
    removed.map(r => h('div', { class: 'diff-remove' }, `- ${r.kind} ${r.id}`)));
}

export async function yamlEditor(context, tenant) {
  const path = `/v1/tenants/${enc(tenant)}/config`;
  let current;
  try {
    current = await api('GET', path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405) && !(e.problem?.detail || '').includes(tenant))
      return h('div', { class: 'card' }, h('p', { class: 'error' }, 'This control plane does not serve configuration documents yet (GET /v1/tenants/{t}/config).'));
    throw e;
  }
  const doc = { ...current.data };
  const revision = doc.revision;
  delete doc.revision;
  const editor = h('textarea', { id: 'yaml', spellcheck: 'false', rows: 24, 'aria-label': 'configuration as YAML' });
  editor.value = yaml.dump(doc, { noRefs: true, lineWidth: 120 });
  const output = h('div', { id: 'diff-output' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true, id: 'yaml-error' });
  const apply = h('button', { type: 'button', class: 'primary', disabled: true, id: 'apply' }, 'Apply');
  const preview = h('button', { type: 'button', id: 'preview' }, 'Preview diff (dry run)');
  let previewed = null;

  const parse = () => {
    const value = yaml.load(editor.value);
    if (!value || typeof value !== 'object') throw new Error('The document must be a mapping with clusters and routes.');
    return value;
  };
  const fail = e => {
    error.textContent = e instanceof ApiError && e.fieldErrors.length
      ? `${e.message} ${e.fieldErrors.map(x => `${x.field}: ${x.message}`).join('; ')}` : e.message;
    error.hidden = false;
  };
  editor.addEventListener('input', () => { apply.disabled = true; previewed = null; });
  preview.addEventListener('click', async () => {
    error.hidden = true;
    clear(output);
    try {
      const body = parse();
      const answer = await api('PUT', `${path}?dryRun=true`, body, { ifMatch: current.etag || undefined });
      previewed = editor.value;
      clear(output, h('h3', null, 'Dry run: what applying would change'), renderDiff(answer.data?.diff));
      apply.disabled = !!answer.data?.unchanged;
    } catch (e) { fail(e); }
  });
  apply.addEventListener('click', async () => {
    if (previewed !== editor.value) { apply.disabled = true; return; }
    error.hidden = true;
    try {
      const answer = await api('PUT', path, parse(), { ifMatch: current.etag || undefined });
      showBanner(answer.data?.unchanged ? 'Nothing to apply: the configuration is unchanged.' : `Applied as revision ${answer.data?.revision}.`, 'ok');
      clear(output, h('h3', null, `Applied${answer.data?.revision ? ` (revision ${answer.data.revision})` : ''}`), renderDiff(answer.data?.diff));
      apply.disabled = true;
      current = await api('GET', path);
    } catch (e) { fail(e); }
  });
  return h('div', { class: 'card' },
    h('p', { class: 'muted' }, `Revision ${revision ?? '—'}. Edit the YAML, preview the diff, then apply: one new revision for the whole change.`),
    editor, error, h('div', { class: 'buttons' }, preview, apply), output);
}
