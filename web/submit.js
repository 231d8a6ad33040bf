// submit.js - submit a job (submit.html): a form over the zoo and the job's
// options, or a job JSON pasted or uploaded. The server validates; its
// error is shown at the field its JSON path names (or, for JSON, with the
// path, the value there and the line of a syntax error). On success the
// page goes to the job.

import { h, replace, append, markNav, api, ApiError, tokenForm, fmtCount, fmtBytes, qs, CHECKS, checkTitle } from './util.js';

const main = document.getElementById('main');
markNav('submit');

const DEFAULT_CHECKS = ['variables_once', 'manifest', 'fixed_weights', 'random_inference', 'random_training'];
const GRAPH_PASSES = ['constant_folding', 'arithmetic', 'fold_batch_norm', 'fuse_bias_activation', 'prune', 'buffer_reuse'];

let models = [];
let checkpoints = [];
const fields = new Map(); // JSON path -> .field element
let mode = 'form';

// ---- small form builders ----

let seq = 0;

function field(path, label, control, hint) {
  const fid = control.id || `f${++seq}`;
  control.id = fid;
  const hintId = hint ? `${fid}-hint` : null;
  const errId = `${fid}-err`;
  control.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field', dataset: { path } },
    h('label', { for: fid }, label), control,
    hint ? h('span', { class: 'hint', id: hintId }, hint) : null,
    h('span', { class: 'field-error', id: errId, role: 'alert', hidden: true }));
  fields.set(path, wrap);
  return wrap;
}

function textInput(attrs = {}) {
  return h('input', Object.assign({ type: 'text', autocomplete: 'off', spellcheck: 'false' }, attrs));
}

function select(options, value) {
  const sel = h('select', null, options.map(([v, label]) => h('option', { value: v }, label)));
  if (value !== undefined) sel.value = value;
  return sel;
}

// Numbers typed in the form: empty is "leave out"; anything that is not a
// number is sent as typed, so the server names the field and the rule.
function numberValue(text) {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? n : t;
}

// ---- the form ----

const f = {}; // controls by name

function buildForm() {
  fields.clear();
  f.name = textInput({ name: 'name', placeholder: 'e.g. mlp-after-migration', maxlength: '200' });
  f.description = textInput({ name: 'description', placeholder: 'optional' });
  f.model = select(models.map((m) => [m.name, m.name]));
  f.model.id = 'zoo-model';
  const preferred = models.find((m) => m.name === 'mlp') || models[0];
  if (preferred) f.model.value = preferred.name;
  f.modelDesc = h('p', { class: 'model-desc', id: 'model-desc' });
  f.args = h('div', { class: 'form-grid', id: 'model-args' });
  f.model.addEventListener('change', () => { renderModelInfo(); update(); });

  f.checks = {};
  const checkBoxes = Object.keys(CHECKS).filter((c) => c !== 'reference').map((c) => {
    const cb = h('input', { type: 'checkbox', name: 'checks', value: c, id: `check-${c}`, checked: DEFAULT_CHECKS.includes(c) });
    f.checks[c] = cb;
    return h('label', { class: 'check-option', for: `check-${c}` }, cb,
      h('span', null, h('b', null, checkTitle(c)), ' ', h('code', { class: 'small' }, c), h('br'), h('span', { class: 'small muted' }, CHECKS[c][1])));
  });
  const checksWrap = h('div', { class: 'field', dataset: { path: 'checks' } },
    h('div', { class: 'checks-grid', role: 'group', 'aria-label': 'checks to run' }, checkBoxes),
    h('span', { class: 'hint' }, 'They run in the guide’s order. All five default checks ticked and no checkpoint: the job leaves "checks" out and runs all that apply.'),
    h('span', { class: 'field-error', role: 'alert', hidden: true }));
  fields.set('checks', checksWrap);

  f.checkpoint = select([['', 'none'], ...checkpoints.map((c) => [c.name, `${c.name} (${fmtBytes(c.size)})`])]);
  f.checkpoint.addEventListener('change', () => {
    if (f.checkpoint.value) f.checks.checkpoint.checked = true;
    update();
  });

  f.seedMode = select([['constant', 'constant'], ['num_random_ops', 'num_random_ops']], 'constant');
  f.seed = textInput({ inputmode: 'numeric', placeholder: '42' });
  f.opSeed = textInput({ inputmode: 'numeric', placeholder: '0' });
  f.rtol = textInput({ inputmode: 'decimal', placeholder: '1e-6' });
  f.atol = textInput({ inputmode: 'decimal', placeholder: '1e-5' });
  f.eagerCalls = textInput({ inputmode: 'numeric', placeholder: '3', id: 'eager-calls' });
  f.eagerCall = select([['', 'direct (default)'], ['direct', 'direct'], ['functional', 'functional (Keras wrapping)']], '');
  f.fixed = textInput({ inputmode: 'decimal', placeholder: '0.001' });
  f.fill = select([['', 'default (ones)'], ['ones', 'ones'], ['zeros', 'zeros'], ['uniform', 'uniform random']], '');
  f.shape = textInput({ placeholder: 'e.g. [2, 8] (default: the model’s)' });
  f.inSeed = textInput({ inputmode: 'numeric', placeholder: '0' });
  f.inMin = textInput({ inputmode: 'decimal', placeholder: '0' });
  f.inMax = textInput({ inputmode: 'decimal', placeholder: '1' });
  const uniformOnly = [field('input.seed', 'Input seed', f.inSeed), field('input.min', 'Input min', f.inMin), field('input.max', 'Input max', f.inMax)];
  const syncUniform = () => { for (const x of uniformOnly) x.hidden = f.fill.value !== 'uniform'; };
  f.fill.addEventListener('change', syncUniform);
  syncUniform();

  f.passes = {};
  const passFields = GRAPH_PASSES.map((p) => {
    f.passes[p] = select([['', 'default'], ['true', 'on'], ['false', 'off']], '');
    return field(`graph_options.${p}`, p, f.passes[p]);
  });

  const form = h('form', { id: 'job-form', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); submit(); } } },
    h('fieldset', null, h('legend', null, 'Job'),
      h('div', { class: 'form-grid' },
        field('name', 'Name', f.name, 'a label for the list, reports and JUnit'),
        field('description', 'Description', f.description))),
    h('fieldset', null, h('legend', null, 'Model'),
      h('div', { class: 'form-grid' }, field('model.zoo', 'Zoo model', f.model)),
      f.modelDesc,
      h('h3', { class: 'small' }, 'Arguments'),
      f.args),
    h('fieldset', null, h('legend', null, 'Checks'), checksWrap,
      h('div', { class: 'form-grid' }, field('checkpoint', 'Checkpoint', f.checkpoint,
        checkpoints.length ? 'uploaded with PUT api/v1/checkpoints/NAME' : 'none uploaded yet (PUT api/v1/checkpoints/NAME)'))),
    h('fieldset', null, h('legend', null, 'Seeds and tolerances'),
      h('div', { class: 'form-grid' },
        field('seed_policy', 'Seed policy', f.seedMode, 'constant: one seed pair for every random op; num_random_ops: seeds count up in creation order'),
        field('seed_policy.seed', 'Seed', f.seed, 'graph-level seed, integer ≥ 0 (default 42)'),
        field('seed_policy.operation_seed', 'Operation seed', f.opSeed, 'integer ≥ 0 (default 0)'),
        field('tolerances.rtol', 'rtol', f.rtol, 'relative tolerance (default 1e-6)'),
        field('tolerances.atol', 'atol', f.atol, 'absolute tolerance, in the tensors’ units (default 1e-5)'))),
    h('fieldset', null, h('legend', null, 'Eager calls and input'),
      h('div', { class: 'form-grid' },
        field('eager_calls', 'Eager calls', f.eagerCalls, 'calls for variables_once and manifest, 2 to 100 (default 3)'),
        field('eager_call', 'Eager call style', f.eagerCall),
        field('fixed_weight_value', 'Fixed weight value', f.fixed, 'every variable’s value in fixed_weights (default 0.001)'),
        field('input.fill', 'Input', f.fill),
        field('input.shape', 'Input shape', f.shape, 'JSON array; leave empty for the declared shape'),
        uniformOnly)),
    h('details', { class: 'card' }, h('summary', null, 'Graph passes (switch one off to isolate a divergence)'),
      h('div', { class: 'form-grid' }, passFields)),
    h('div', { class: 'submit-bar' },
      h('button', { type: 'submit', id: 'submit-form' }, 'Submit job'),
      h('button', { type: 'button', class: 'secondary', on: { click: () => { jsonText.value = JSON.stringify(formJob(), null, 2); selectTab('json'); } } }, 'Edit as JSON'),
      h('span', { class: 'small muted', role: 'status', 'aria-live': 'polite', id: 'form-status' })),
    h('details', { class: 'preview' }, h('summary', null, 'The job this form sends'), f.preview = h('pre', { class: 'json', id: 'form-preview' })));
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  return form;
}

function renderModelInfo() {
  const m = models.find((x) => x.name === f.model.value);
  replace(f.modelDesc);
  replace(f.args);
  f.argInputs = {};
  for (const [p] of fields) if (p.startsWith('model.args.')) fields.delete(p);
  if (!m) return;
  append(f.modelDesc, m.description || '', ' ',
    h('span', { class: 'num', title: 'estimated parameters (values in all variables)' }, `${fmtCount(m.parameters)} parameters`), ' · ',
    h('span', { class: 'num', title: 'estimated activation memory of a forward pass: the input plus the most op outputs alive at once' }, `${fmtBytes(m.activation_bytes)} activations`), ' · ',
    h('span', { class: 'num', title: 'estimated floating-point operations per forward pass' }, `${fmtCount(m.flops)} FLOPs per pass`));
  const args = m.arguments || {};
  const names = Object.keys(args);
  if (!names.length) {
    append(f.args, h('p', { class: 'muted small' }, 'This model takes no arguments.'));
    return;
  }
  for (const a of names) {
    const spec = args[a] || {};
    const def = spec.default;
    let ctl;
    if (typeof def === 'boolean') ctl = select([['', `default (${def})`], ['true', 'true'], ['false', 'false']], '');
    else ctl = textInput({ placeholder: def === undefined ? '' : String(Number.isFinite(def) ? Number(def.toPrecision(6)) : def) });
    ctl.dataset.kind = typeof def;
    f.argInputs[a] = ctl;
    append(f.args, field(`model.args.${a}`, a, ctl, spec.doc || ''));
  }
}

// The job the form describes: only what differs from the defaults.
function formJob() {
  const job = {};
  if (f.name.value.trim()) job.name = f.name.value.trim();
  if (f.description.value.trim()) job.description = f.description.value.trim();
  job.model = { zoo: f.model.value };
  const args = {};
  for (const [a, ctl] of Object.entries(f.argInputs || {})) {
    if (ctl.value === '') continue;
    if (ctl.dataset.kind === 'boolean') args[a] = ctl.value === 'true';
    else if (ctl.dataset.kind === 'number') args[a] = numberValue(ctl.value);
    else args[a] = ctl.value;
  }
  if (Object.keys(args).length) job.model.args = args;
  const checks = Object.keys(f.checks).filter((c) => f.checks[c].checked);
  const isDefault = checks.length === DEFAULT_CHECKS.length && DEFAULT_CHECKS.every((c) => checks.includes(c)) && !f.checkpoint.value;
  if (!isDefault) job.checks = checks;
  if (f.checkpoint.value) job.checkpoint = f.checkpoint.value;
  const seed = numberValue(f.seed.value);
  const opSeed = numberValue(f.opSeed.value);
  if (seed !== undefined || opSeed !== undefined) {
    job.seed_policy = { mode: f.seedMode.value };
    if (seed !== undefined) job.seed_policy.seed = seed;
    if (opSeed !== undefined) job.seed_policy.operation_seed = opSeed;
  } else if (f.seedMode.value !== 'constant') {
    job.seed_policy = f.seedMode.value;
  }
  const rtol = numberValue(f.rtol.value);
  const atol = numberValue(f.atol.value);
  if (rtol !== undefined || atol !== undefined) {
    job.tolerances = {};
    if (rtol !== undefined) job.tolerances.rtol = rtol;
    if (atol !== undefined) job.tolerances.atol = atol;
  }
  const calls = numberValue(f.eagerCalls.value);
  if (calls !== undefined) job.eager_calls = calls;
  if (f.eagerCall.value) job.eager_call = f.eagerCall.value;
  const fixed = numberValue(f.fixed.value);
  if (fixed !== undefined) job.fixed_weight_value = fixed;
  const input = {};
  if (f.fill.value) input.fill = f.fill.value;
  if (f.shape.value.trim()) {
    try { input.shape = JSON.parse(f.shape.value); } catch { input.shape = f.shape.value.trim(); }
  }
  if (f.fill.value === 'uniform') {
    for (const [k, ctl] of [['seed', f.inSeed], ['min', f.inMin], ['max', f.inMax]]) {
      const v = numberValue(ctl.value);
      if (v !== undefined) input[k] = v;
    }
  }
  if (Object.keys(input).length) job.input = input;
  const go = {};
  for (const p of GRAPH_PASSES) if (f.passes[p].value) go[p] = f.passes[p].value === 'true';
  if (Object.keys(go).length) job.graph_options = go;
  return job;
}

function update() {
  if (f.preview) f.preview.textContent = JSON.stringify(formJob(), null, 2);
}

// ---- JSON panel ----

const jsonText = h('textarea', { id: 'job-json', rows: '18', spellcheck: 'false', 'aria-describedby': 'json-hint json-error',
  placeholder: '{"name": "my-check", "model": {"zoo": "mlp"}}' });
const fileInput = h('input', { type: 'file', id: 'job-file', accept: '.json,application/json' });
const jsonError = h('div', { id: 'json-error', role: 'alert' });

fileInput.addEventListener('change', async () => {
  const file = fileInput.files && fileInput.files[0];
  if (!file) return;
  jsonText.value = await file.text();
  jsonText.focus();
});

function jsonPanel() {
  return h('form', { id: 'json-form', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); submit(); } } },
    h('div', { class: 'field', dataset: { path: '' } },
      h('label', { for: 'job-json' }, 'Job JSON'),
      h('span', { class: 'hint', id: 'json-hint' }, 'The same document as for ', h('code', null, 'equivd validate'), ' (docs/job.md). Paste it, or load a file: '),
      fileInput,
      jsonText),
    jsonError,
    h('div', { class: 'submit-bar' }, h('button', { type: 'submit', id: 'submit-json' }, 'Submit job')));
}

// ---- errors ----

function clearErrors() {
  for (const wrap of main.querySelectorAll('.field.has-error')) wrap.classList.remove('has-error');
  for (const e of main.querySelectorAll('.field-error')) { e.hidden = true; e.textContent = ''; }
  for (const c of main.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  replace(jsonError);
  replace(topError);
}

// The form field for a server path: the exact one, else the closest
// enclosing one (checks[2] -> checks, model.args.x.y -> model.args.x).
function fieldFor(path) {
  if (fields.has(path)) return fields.get(path);
  let best = null;
  for (const [p, wrap] of fields) {
    if (!p) continue;
    if ((path.startsWith(p + '.') || path.startsWith(p + '[')) && (!best || p.length > best[0].length)) best = [p, wrap];
  }
  return best ? best[1] : null;
}

function valueAt(obj, path) {
  const parts = path.match(/[^.[\]]+|\[\d+\]/g) || [];
  let v = obj;
  for (const p of parts) {
    if (v === null || typeof v !== 'object') return undefined;
    v = p.startsWith('[') ? v[Number(p.slice(1, -1))] : v[p];
  }
  return v;
}

// Selects line:column in the textarea.
function selectLine(line, column) {
  const lines = jsonText.value.split('\n');
  let pos = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) pos += lines[i].length + 1;
  const lineLen = (lines[line - 1] || '').length;
  jsonText.focus();
  jsonText.setSelectionRange(pos + Math.max(0, Math.min(column - 1, lineLen) - 1), pos + lineLen);
}

// Selects the line of the key a JSON path ends at, found by looking for
// each named segment in turn (a guide for the eye, not a parser).
function selectPath(p) {
  const text = jsonText.value;
  let pos = -1;
  for (const seg of p.split(/[.[\]]+/).filter((x) => x && !/^\d+$/.test(x))) {
    const i = text.indexOf(JSON.stringify(seg), pos + 1);
    if (i < 0) break;
    pos = i;
  }
  if (pos < 0) return;
  const end = text.indexOf('\n', pos);
  jsonText.focus();
  jsonText.setSelectionRange(pos, end < 0 ? text.length : end);
}

function showError(err, sentJob) {
  if (mode === 'form' && err.path !== undefined && err.path !== '') {
    const wrap = fieldFor(err.path);
    if (wrap) {
      wrap.classList.add('has-error');
      const msg = wrap.querySelector('.field-error');
      msg.hidden = false;
      msg.textContent = (err.path === wrap.dataset.path ? '' : `${err.path}: `) + err.message;
      const ctl = wrap.querySelector('input, select, textarea');
      if (ctl) { ctl.setAttribute('aria-invalid', 'true'); ctl.focus(); }
      const det = wrap.closest('details');
      if (det) det.open = true;
      append(topError, h('div', { class: 'callout callout-fail', id: 'submit-error' },
        h('strong', null, 'The server refused the job: '), h('a', { href: '#' + (ctl ? ctl.id : ''), on: { click: (ev) => { ev.preventDefault(); if (ctl) ctl.focus(); } } }, err.path), ' — ', err.message));
      return;
    }
  }
  const target = mode === 'json' ? jsonError : topError;
  const box = h('div', { class: 'callout callout-fail', id: 'submit-error', dataset: { path: err.path || '', code: err.code || '' } },
    h('strong', null, err.code === 'malformed_json' ? 'The text is not valid JSON: ' : 'The server refused the job: ', err.message));
  if (err.path) {
    box.appendChild(h('div', null, 'at ', h('code', { class: 'error-path' }, err.path)));
    const v = sentJob !== undefined ? valueAt(sentJob, err.path) : undefined;
    if (v !== undefined) box.appendChild(h('div', { class: 'small' }, 'value there: ', h('code', null, JSON.stringify(v).slice(0, 300))));
  }
  if (err.line) {
    box.appendChild(h('div', { class: 'small' }, `line ${err.line}, column ${err.column}`));
    if (mode === 'json') selectLine(err.line, err.column || 1);
  } else if (mode === 'json' && err.path) {
    selectPath(err.path);
  }
  if (err.code) box.appendChild(h('div', { class: 'small muted' }, 'code ', h('code', null, err.code), ` (HTTP ${err.status})`));
  append(target, box);
  box.scrollIntoView({ block: 'nearest' });
}

// ---- submitting ----

const topError = h('div', { id: 'top-error' });
let busy = false;

async function submit() {
  if (busy) return;
  clearErrors();
  let body;
  let sentJob;
  if (mode === 'form') {
    sentJob = formJob();
    body = JSON.stringify(sentJob);
  } else {
    body = jsonText.value;
    try { sentJob = JSON.parse(body); } catch { sentJob = undefined; }
    if (!body.trim()) {
      showError({ message: 'paste a job JSON or load a file first', path: '', code: '' });
      jsonText.focus();
      return;
    }
  }
  busy = true;
  const btns = main.querySelectorAll('button[type="submit"]');
  for (const b of btns) b.disabled = true;
  const status = document.getElementById('form-status');
  if (status) status.textContent = 'Submitting…';
  try {
    const r = await api('api/v1/jobs', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    const id = r.data && r.data.id;
    location.assign(`job.html?id=${encodeURIComponent(id)}`);
    return;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      replace(topError, tokenForm(e, () => { replace(topError); submit(); }));
      const input = topError.querySelector('input');
      if (input) input.focus();
    } else {
      showError(e, sentJob);
    }
  } finally {
    busy = false;
    for (const b of btns) b.disabled = false;
    if (status) status.textContent = '';
  }
}

// ---- tabs ----

const tabs = {};
const panels = {};

function selectTab(name) {
  mode = name;
  for (const [k, t] of Object.entries(tabs)) {
    const on = k === name;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    panels[k].hidden = !on;
  }
  clearErrors();
  const u = new URL(location.href);
  u.searchParams.set('mode', name);
  history.replaceState(null, '', u);
}

function tabBar() {
  const names = [['form', 'Form'], ['json', 'Paste or upload JSON']];
  const bar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'How to describe the job' },
    names.map(([k, label]) => {
      tabs[k] = h('button', { type: 'button', role: 'tab', id: `tab-${k}`, 'aria-controls': `panel-${k}`,
                               on: { click: () => selectTab(k) } }, label);
      return tabs[k];
    }));
  bar.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
    const order = names.map(([k]) => k);
    const next = order[(order.indexOf(mode) + (ev.key === 'ArrowRight' ? 1 : order.length - 1)) % order.length];
    selectTab(next);
    tabs[next].focus();
  });
  return bar;
}

// ---- start ----

async function start() {
  const [m, c] = await Promise.allSettled([api('api/v1/models'), api('api/v1/checkpoints')]);
  if (m.status === 'rejected') {
    const e = m.reason;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      replace(main, h('h1', null, 'Submit a job'), tokenForm(e, start));
      return;
    }
  }
  models = m.status === 'fulfilled' ? (m.value.data && m.value.data.models) || [] : [];
  checkpoints = c.status === 'fulfilled' ? (c.value.data && c.value.data.checkpoints) || [] : [];
  panels.form = h('div', { role: 'tabpanel', id: 'panel-form', 'aria-labelledby': 'tab-form', class: 'tabpanel' },
    models.length ? buildForm() : h('p', { class: 'muted' }, 'The model list could not be loaded; use JSON.'));
  panels.json = h('div', { role: 'tabpanel', id: 'panel-json', 'aria-labelledby': 'tab-json', class: 'tabpanel' }, jsonPanel());
  replace(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Submit a job')),
    h('p', { class: 'muted' }, 'A job names the model, the checks and their options (docs/job.md). The server checks it and answers with the JSON path of anything wrong.'),
    topError, tabBar(), panels.form, panels.json);
  if (models.length) { renderModelInfo(); update(); }
  selectTab(qs('mode') === 'json' || !models.length ? 'json' : 'form');
  // "Edit & resubmit" from a job page.
  const from = qs('from');
  if (from && /^[0-9]+$/.test(from)) {
    try {
      const r = await api(`api/v1/jobs/${from}/report`);
      if (r.data && r.data.job) {
        jsonText.value = JSON.stringify(r.data.job, null, 2);
        selectTab('json');
      }
    } catch (e) {
      append(topError, h('p', { class: 'muted small' }, `Could not load job #${from}: ${e.message}`));
    }
  }
}

start();
