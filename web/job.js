// job.js - one job (job.html?id=N): its verdict first, then a checklist of
// the checks and each check's findings: offending variables and fixes,
// manifest differences, comparator metrics and histograms, the endpoint
// error chart with the first divergence, the random-op traces side by side.
// A queued or running job's page follows its passes until it ends.

import {
  h, replace, append, markNav, api, ApiError, tokenForm, errorBox, chip, num, secs, fmtNum, fmtInt, fmtBytes,
  fmtPercent, fmtShape, fmtCount, timeEl, jobDuration, qs, sleep, CHECKS, checkTitle,
  modelLabel, debounce, scoped,
} from './util.js';
import { histogram, endpointChart, endpointLegend, chartBox } from './charts.js';

const main = document.getElementById('main');
markNav('jobs');

const id = qs('id');
const POLL_WAIT_S = 1; // ?wait= answers at once when the job ends


// ---- loading ----

const base = `api/v1/jobs/${id}`;
let job = null;
let report = null;
let tensors = null;
const seenChecks = []; // check names seen in progress.current, in order

async function start() {
  try {
    job = (await api(base)).data;
  } catch (e) {
    return failPage(e, start);
  }
  if (job.status === 'queued' || job.status === 'running') {
    renderLive();
    follow();
  } else {
    await loadResults();
  }
}

function failPage(e, retry) {
  if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
    replace(main, h('h1', null, `Job #${id}`), tokenForm(e, retry));
  } else if (e instanceof ApiError && e.status === 404) {
    replace(main, h('p', { class: 'crumbs' }, h('a', { href: './' }, '← Jobs')),
      h('h1', null, `Job #${id} not found`), errorBox(e));
  } else {
    replace(main, h('h1', null, `Job #${id}`), errorBox(e, 'Could not load the job'),
      h('button', { type: 'button', on: { click: () => start() } }, 'Try again'));
  }
}

// Polls the job (each request waits up to a second server-side, and returns
// at once when the job ends) and redraws the live part.
async function follow() {
  for (;;) {
    if (document.hidden) {
      await new Promise((r) => document.addEventListener('visibilitychange', r, { once: true }));
    }
    try {
      job = (await api(`${base}?wait=${POLL_WAIT_S}`)).data;
    } catch (e) {
      setLiveNote(`Lost contact with the server (${e.message}); retrying…`);
      await sleep(2000);
      continue;
    }
    if (job.status !== 'queued' && job.status !== 'running') break;
    renderLive();
    await sleep(400);
  }
  await loadResults();
}

async function loadResults() {
  report = null;
  let reportError = null;
  const [rep, ten] = await Promise.allSettled([api(`${base}/report`), api(`${base}/tensors`)]);
  if (rep.status === 'fulfilled') report = rep.value.data;
  else reportError = rep.reason;
  tensors = ten.status === 'fulfilled' ? (ten.value.data && ten.value.data.tensors) || [] : null;
  if (reportError && (reportError.status === 401 || reportError.status === 403)) {
    return failPage(reportError, loadResults);
  }
  renderFinished(reportError);
}

// ---- header: name, chips, headline, facts, actions ----

function jobName() {
  return job.name || (report && report.name) || `Job #${job.id}`;
}

function headlineText() {
  if (report && report.summary) return report.summary;
  if (job.summary && job.summary.text) return job.summary.text;
  if (job.error) return typeof job.error === 'string' ? job.error : job.error.message;
  if (job.status === 'queued') return 'Waiting for a worker.';
  if (job.status === 'running') return 'Running.';
  return '';
}

function header() {
  document.title = `${jobName()} — equivd`;
  const verdict = (report && report.verdict) || job.verdict;
  const headline = headlineText();
  return h('div', { class: 'card', id: 'overview' },
    h('p', { class: 'crumbs small' }, h('a', { href: './' }, '← All jobs')),
    h('div', { class: 'job-head' },
      h('h1', { id: 'job-name' }, jobName()),
      h('span', { class: 'muted num', title: 'job ID' }, `#${job.id}`),
      chip(job.status, 'status'),
      verdict ? bigChip(verdict) : null),
    headline ? h('p', { class: `headline ${verdict || ''}`, id: 'headline' }, headline) : null,
    facts(),
    actions());
}

function bigChip(v) {
  const c = chip(v, 'verdict');
  c.classList.add('big');
  c.id = 'verdict';
  return c;
}

function fact(label, ...value) {
  return h('div', null, h('dt', null, label), h('dd', null, value));
}

function facts() {
  const t = job.timings || {};
  const items = [];
  if (report && report.models) {
    const m = report.models;
    items.push(fact('Graph model', modelLabel(m.graph)));
    if (report.settings && report.settings.separate_eager_model) items.push(fact('Eager model', modelLabel(m.eager)));
    const p = m.graph && m.graph.parameters;
    if (p !== undefined) items.push(fact('Parameters', num(p, { format: fmtCount, title: `trainable and non-trainable values in the graph model's variables: ${fmtInt(p)}` })));
  }
  items.push(fact('Created', timeEl(t.created, 'created')));
  if (t.started) items.push(fact('Started', timeEl(t.started, 'started')));
  if (t.finished) items.push(fact('Finished', timeEl(t.finished, 'finished')));
  const d = jobDuration(job);
  if (d !== null || job.status === 'running') {
    items.push(h('div', null, h('dt', null, job.status === 'running' ? 'Running for' : 'Run time'),
      h('dd', { id: 'run-time' }, d === null ? '—' : secs(d, 'wall time of the job, start to end'))));
  }
  if (report && report.timing) {
    const tm = report.timing;
    items.push(fact('Forward passes', num(tm.passes, { title: `forward passes run (planned: ${tm.planned_passes})` }),
      h('span', { class: 'muted' }, ' in '), secs(tm.pass_seconds, 'compute time of every forward pass together')));
    items.push(fact('Overhead', num(tm.overhead_fraction, { format: fmtPercent, title: `time outside forward passes (parsing, comparing, report) as a share of the wall time: ${fmtNum(tm.overhead_seconds)} s` })));
  }
  if (job.attempts > 1) items.push(fact('Attempts', num(job.attempts, { title: 'runs of this job: above 1 means it was requeued after a stop' })));
  return h('dl', { class: 'facts' }, items);
}

function actions() {
  const acts = [];
  if (job.status === 'queued' || job.status === 'running') {
    const btn = h('button', { type: 'button', class: 'danger', id: 'cancel' }, 'Cancel job');
    let armed = false;
    btn.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        btn.textContent = 'Click again to cancel';
        setTimeout(() => { armed = false; if (btn.isConnected && !btn.disabled) btn.textContent = 'Cancel job'; }, 4000);
        return;
      }
      btn.disabled = true;
      try {
        const r = await api(base, { method: 'DELETE' });
        btn.textContent = r.status === 202 ? 'Stopping at the next pass…' : 'Cancelled';
      } catch (e) {
        btn.textContent = 'Cancel failed';
        btn.title = e.message;
      }
    });
    acts.push(btn);
  } else {
    acts.push(h('a', { class: 'button secondary', href: `${base}/report`, download: `equivd-job-${job.id}-report.json`, id: 'dl-report' }, 'Report JSON'));
    acts.push(h('a', { class: 'button secondary', href: `${base}/junit.xml`, download: `equivd-job-${job.id}-junit.xml`, id: 'dl-junit' }, 'JUnit XML'));
  }
  acts.push(h('a', { class: 'button secondary', href: `${base}/events` }, 'Event log'));
  if (report && report.job) acts.push(h('a', { class: 'button secondary', href: `submit.html?from=${job.id}` }, 'Edit & resubmit'));
  return h('div', { class: 'actions' }, acts);
}

// ---- running job ----

let liveNote = null;

function setLiveNote(text) {
  if (liveNote) liveNote.textContent = text;
}

// progress.current reads "fixed_weights eager" or "random_training: eager call 1".
function checkOf(current) {
  return String(current).split(/[:\s]/)[0];
}

// The live view is built once per status and then updated in place, so
// focus (the cancel button, a link) survives the updates.
let liveView = null;

function renderLive() {
  const p = job.progress || {};
  const done = p.passes_done || 0;
  const total = p.passes_total || 0;
  if (p.current) {
    const name = checkOf(p.current);
    if (name && !seenChecks.includes(name)) seenChecks.push(name);
  }
  const current = p.current ? checkOf(p.current) : null;
  if (!liveView || liveView.status !== job.status) {
    const v = { status: job.status };
    v.note = h('p', { class: 'small muted', role: 'status', 'aria-live': 'polite', id: 'live-note' });
    v.progress = h('progress', { id: 'live-progress' });
    v.count = h('p', null);
    v.list = h('ol', { class: 'checklist', id: 'live-checklist' });
    const section = h('section', { class: 'card live', 'aria-labelledby': 'live-h' },
      h('h2', { id: 'live-h' }, job.status === 'queued' ? 'Queued' : 'Running'),
      v.progress, v.count, v.note, v.list);
    const head = header();
    v.runTime = head.querySelector('#run-time');
    replace(main, head, section);
    liveNote = v.note;
    liveView = v;
  }
  const v = liveView;
  v.note.textContent = job.status === 'queued' ? 'Waiting for a worker; this page updates by itself.'
    : `Pass ${done} of ${total || '?'} done${p.current ? ` · now: ${p.current}` : ''} · this page updates by itself.`;
  v.progress.max = Math.max(1, total);
  v.progress.value = done;
  v.progress.setAttribute('max', String(Math.max(1, total)));
  v.progress.setAttribute('value', String(done));
  v.progress.setAttribute('aria-label', `forward passes done: ${done} of ${total}`);
  const pct = total ? Math.round((100 * done) / total) : 0;
  replace(v.count, num(done, { title: 'forward passes done' }), ' of ', num(total, { title: 'forward passes planned' }),
    ' forward passes', total ? h('span', { class: 'muted' }, ` (${pct}%)`) : null);
  const d = jobDuration(job);
  if (v.runTime && d !== null) replace(v.runTime, secs(d, 'wall time of the job so far'));
  const key = seenChecks.join() + '|' + current;
  if (v.listKey !== key) {
    v.listKey = key;
    replace(v.list, seenChecks.map((c) =>
      h('li', { dataset: { check: c } },
        c === current ? chip('running', 'status') : h('span', { class: 'chip chip-done', title: 'its passes are done; the verdict comes with the report' }, h('span', { class: 'chip-sym', 'aria-hidden': 'true' }, '■'), 'passes done'),
        h('span', { class: 'check-name' }, h('b', null, checkTitle(c)), ' ', h('code', { class: 'small' }, c)),
        h('span', null),
        h('span', { class: 'check-sum muted' }, (CHECKS[c] && CHECKS[c][1]) || ''))));
  }
}

// ---- finished job ----

function renderFinished(reportError) {
  const parts = [header()];
  if (!report) {
    if (job.error) {
      const e = typeof job.error === 'string' ? { message: job.error } : job.error;
      parts.push(h('div', { class: 'callout callout-error', role: 'alert' },
        h('strong', null, `The job ${job.status === 'cancelled' ? 'was cancelled' : 'could not run'}: `, e.message || ''),
        e.path ? h('div', null, 'at ', h('code', null, e.path)) : null,
        e.code ? h('div', { class: 'small muted' }, 'code ', h('code', null, e.code)) : null));
    }
    if (reportError && !(reportError.status === 404)) parts.push(errorBox(reportError, 'Could not load the report'));
    else parts.push(h('p', { class: 'muted' }, 'This job has no report.'));
    replace(main, parts);
    return;
  }
  if (report.error) {
    const e = report.error;
    parts.push(h('div', { class: 'callout callout-error', role: 'alert', id: 'job-error' },
      h('strong', null, report.status === 'cancelled' ? 'Cancelled: ' : 'The job failed before its checks: ', e.message || ''),
      e.path ? h('div', null, 'at ', h('code', null, e.path)) : null,
      e.status ? h('div', { class: 'small muted' }, 'status ', h('code', null, e.status)) : null));
  }
  const checks = report.checks || [];
  if (checks.length) parts.push(checklist(checks));
  // Findings of failing checks first (in the guide's order), then the rest.
  const bad = checks.filter((c) => c.verdict === 'fail' || c.verdict === 'error');
  const rest = checks.filter((c) => !bad.includes(c));
  for (const c of bad) parts.push(checkSection(c));
  if (bad.length && rest.length) parts.push(h('h2', { class: 'section-gap' }, 'Other checks'));
  for (const c of rest) parts.push(checkSection(c));
  parts.push(modelsSection());
  parts.push(downloadsSection());
  replace(main, parts);
  // A link to a check (#check-manifest) works after the late render, and
  // opens a passing check's findings.
  if (location.hash) showHash();
}

function showHash() {
  let target = null;
  try { target = document.getElementById(decodeURIComponent(location.hash.slice(1))); } catch { return; }
  if (!target) return;
  const folded = target.querySelector(':scope > details.check-details');
  if (folded) folded.open = true;
  for (let d = target.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
  target.scrollIntoView();
}

window.addEventListener('hashchange', showHash);

function checklist(checks) {
  const cc = report.check_counts || {};
  return h('section', { class: 'card', 'aria-labelledby': 'checks-h' },
    h('h2', { id: 'checks-h' }, 'Checks ',
      h('span', { class: 'muted small', title: 'checks per verdict' },
        `${cc.pass || 0} passed · ${cc.fail || 0} failed · ${cc.error || 0} errors · ${cc.skipped || 0} skipped`)),
    h('ol', { class: 'checklist', id: 'checklist' }, checks.map((c) =>
      h('li', { dataset: { check: c.name, verdict: c.verdict } },
        chip(c.verdict, 'verdict'),
        h('span', { class: 'check-name' },
          h('a', { href: `#check-${c.name}` }, checkTitle(c.name)), ' ',
          h('code', { class: 'small', title: CHECKS[c.name] ? CHECKS[c.name][1] : '' }, c.name)),
        h('span', { class: 'check-time' },
          secs(c.seconds, 'wall time of the check'),
          c.passes !== undefined ? h('span', null, ' · ', num(c.passes, { title: `forward passes of this check, ${fmtNum(c.pass_seconds)} s of compute` }), c.passes === 1 ? ' pass' : ' passes') : null),
        h('span', { class: 'check-sum' }, c.summary || '')))));
}

function checkSection(c) {
  const d = c.details || {};
  const body = [];
  if (c.error) {
    body.push(h('div', { class: 'callout callout-error' },
      h('strong', null, 'The check could not run: ', c.error.message || ''),
      c.error.path ? h('div', null, 'at ', h('code', null, c.error.path)) : null,
      c.error.status ? h('div', { class: 'small muted' }, 'status ', h('code', null, c.error.status)) : null));
  }
  let rendered = true;
  if (c.name === 'variables_once') body.push(variablesOnce(d));
  else if (c.name === 'manifest') body.push(manifest(d));
  else if (c.name === 'reference') body.push(reference(c, d));
  else if (['fixed_weights', 'checkpoint', 'random_inference', 'random_training'].includes(c.name) || d.outputs) body.push(comparison(c, d));
  else rendered = false;
  if (c.messages && c.messages.length) {
    body.push(h('details', { class: 'messages-box', open: !rendered && c.verdict !== 'pass' },
      h('summary', null, `Messages (${c.messages.length})`),
      h('ul', { class: 'messages' }, c.messages.map((m) => h('li', null, m)))));
  }
  if (!rendered && Object.keys(d).length) {
    body.push(h('details', null, h('summary', null, 'Details (JSON)'), h('pre', { class: 'json' }, JSON.stringify(d, null, 2))));
  }
  // Passing checks keep their findings one click away, so a failing one is
  // near the top of the page.
  const folded = c.verdict === 'pass' || c.verdict === 'skipped';
  return h('section', { class: 'card check-section', id: `check-${c.name}`, 'aria-labelledby': `h-${c.name}`, dataset: { verdict: c.verdict } },
    h('h2', { id: `h-${c.name}` }, chip(c.verdict, 'verdict'), checkTitle(c.name), h('code', { class: 'small' }, c.name)),
    h('p', { class: 'muted small' }, (CHECKS[c.name] && CHECKS[c.name][1]) || '', ' · ', secs(c.seconds, 'wall time of the check'),
      c.passes !== undefined ? [' · ', num(c.passes, { title: 'forward passes' }), ` pass${c.passes === 1 ? '' : 'es'} (`, secs(c.pass_seconds, 'compute time of the passes'), ')'] : null),
    c.summary ? h('p', { class: 'check-summary' }, c.summary) : null,
    folded ? h('details', { class: 'check-details' }, h('summary', null, 'Show the findings'), body) : body);
}

// ---- variables_once ----

const CAUSES = {
  uncached_variable: 'a tf.Variable created in the forward pass',
  unnamed_layer: 'a layer without a name: a new default scope per call',
  default_named_scope: 'an enclosing scope opened by default name',
  other: 'another cause',
};

function variablesOnce(d) {
  const out = [];
  const per = d.variables_created_per_call || [];
  out.push(h('dl', { class: 'kv' },
    h('dt', null, 'Eager calls'), h('dd', null, num(d.eager_calls, { title: 'times the eager model was called' }), d.eager_call ? ` (${d.eager_call})` : ''),
    h('dt', null, 'Created per call'), h('dd', null, per.map((n, i) => [i ? ', ' : '',
      h('span', { class: 'num', title: i === 0 ? 'variables created by the functional build (0 when called directly)' : `variables created during call ${i}` },
        i === 0 ? `build ${n}` : `call ${i}: ${n}`)])),
    h('dt', null, 'After the last call'), h('dd', null, num(d.variables_after_last_call, { title: 'variables that exist after the last eager call' }), ' variables')));
  const list = d.created_after_first_call || [];
  if (!list.length) {
    out.push(h('div', { class: 'callout callout-pass' }, h('strong', null, 'Every variable was created by the first call.')));
    return out;
  }
  // One box per statement and fix, listing the variables it creates again.
  const groups = new Map();
  for (const v of list) {
    const key = `${v.statement_path}\u0000${v.cause}\u0000${v.fix}`;
    if (!groups.has(key)) groups.set(key, { v, rows: [] });
    groups.get(key).rows.push(v);
  }
  out.push(h('h3', null, `Variables created after the first call (${fmtInt(d.created_after_first_call_count ?? list.length)})`));
  for (const { v, rows } of groups.values()) {
    out.push(h('div', { class: 'callout callout-fail offending', dataset: { statement: v.statement_path || '' } },
      h('strong', null, `${rows.length} variable${rows.length === 1 ? '' : 's'} created again by the statement at `,
        h('code', { title: 'JSON path of the model statement' }, v.statement_path || '?')),
      h('div', { class: 'small' }, 'Cause: ', h('code', null, v.cause), CAUSES[v.cause] ? ` — ${CAUSES[v.cause]}` : ''),
      v.fix ? h('div', { class: 'fix-box fix' }, h('strong', null, 'Suggested fix: '), v.fix) : null,
      h('div', { class: 'table-scroll' }, h('table', { class: 'offenders small' },
        h('thead', null, h('tr', null, ['variable', 'call', 'created by', 'arguments', 'first call made'].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', null, rows.map((r) => h('tr', { dataset: { variable: r.name } },
          h('td', { class: 'mono' }, scoped(r.name)),
          h('td', { class: 'numcell' }, num(r.call, { title: 'the eager call that created it (call 1 is the first)' })),
          h('td', null, r.creator || '—'),
          h('td', { class: 'mono' }, r.arguments || '—'),
          h('td', { class: 'mono' }, r.first_call_variable ? scoped(r.first_call_variable) : h('span', { class: 'muted', title: 'the statement created nothing on the first call' }, '—')))))))));
  }
  if (d.created_after_first_call_truncated) {
    out.push(h('p', { class: 'muted small' }, `The list stops at ${fmtInt(list.length)} entries.`));
  }
  const causes = d.causes || {};
  out.push(h('p', { class: 'small muted' }, 'By cause: ', Object.entries(causes).filter(([, n]) => n).map(([k, n], i) =>
    [i ? ', ' : '', h('span', { title: CAUSES[k] || k }, `${k} ${n}`)])));
  return out;
}

// ---- manifest ----

function varCells(v) {
  if (!v) return [h('td', { class: 'muted' }, '—'), h('td', { class: 'muted' }, '—'), h('td', { class: 'muted' }, '—')];
  return [h('td', { class: 'mono' }, fmtShape(v.shape)), h('td', null, v.dtype || '—'),
    h('td', null, v.trainable === undefined ? '—' : v.trainable ? 'yes' : 'no')];
}

function matchRow(tr, q) {
  const hit = !q || tr.dataset.search.includes(q);
  tr.hidden = !hit;
  return hit;
}

function manifest(d) {
  const g = d.graph || {};
  const e = d.eager || {};
  const out = [];
  out.push(h('dl', { class: 'kv' },
    h('dt', null, 'Graph mode'), h('dd', null, num(g.count, { title: 'variables in graph mode' }), ' variables, ',
      num(g.trainable_count, { title: 'trainable variables' }), ' trainable, ', num(g.parameters, { format: fmtCount, title: `parameters (values): ${fmtInt(g.parameters)}` }), ' parameters'),
    h('dt', null, 'Eager mode'), h('dd', null, num(e.count, { title: 'variables in eager mode' }), ' variables, ',
      num(e.trainable_count, { title: 'trainable variables' }), ' trainable, ', num(e.parameters, { format: fmtCount, title: `parameters (values): ${fmtInt(e.parameters)}` }), ' parameters'),
    h('dt', null, 'Matched by name'), h('dd', null, num(d.matched_count, { title: 'variables found in both modes (eager names through name_map)' })),
    h('dt', null, 'Same creation order'), h('dd', null, d.same_creation_order ? 'yes' : 'no')));

  const rows = [];
  const add = (kind, label, name, gv, ev, diffs, extra) => {
    const tr = h('tr', { class: 'bad', dataset: { kind, search: `${name} ${extra || ''}`.toLowerCase() } },
      h('td', null, h('span', { class: 'kind' }, label)),
      h('td', { class: 'mono' }, scoped(name), extra ? h('div', { class: 'small muted' }, extra) : null),
      varCells(gv), varCells(ev),
      h('td', null, diffs || ''));
    rows.push(tr);
  };
  for (const v of d.only_in_graph || []) add('only_in_graph', 'only in graph', v.name, v, null, 'missing in eager');
  for (const v of d.only_in_eager || []) add('only_in_eager', 'only in eager', v.name, null, v, 'missing in graph',
    v.eager_name && v.eager_name !== v.name ? `eager name ${v.eager_name}` : '');
  for (const m of d.mismatched || []) add('mismatched', 'mismatch', m.name, m.graph, m.eager, (m.differences || []).join(', ') + ' differ');
  const byName = (m) => new Map((m.variables || []).map((v) => [v.name, v]));
  const gByName = byName(g);
  const eByName = byName(e);
  for (const x of d.duplicate_names_in_eager || []) add('duplicate', 'duplicate', x.name, gByName.get(x.name), eByName.get(x.name), `eager name used again in call ${x.call}`,
    x.eager_name && x.eager_name !== x.name ? `eager name ${x.eager_name}` : '');

  const counts = [
    ['only_in_graph', 'Only in graph'], ['only_in_eager', 'Only in eager'], ['mismatched', 'Mismatched'],
    ['duplicate_names_in_eager', 'Duplicate eager names']];
  out.push(h('p', { class: 'small' }, counts.map(([k, label], i) => {
    const n = d[`${k}_count`] ?? (d[k] || []).length;
    return [i ? ' · ' : '', `${label} `, h('span', { class: 'count' + (n ? ' nonzero' : ''), title: `${label.toLowerCase()}: ${n} variables` }, String(n))];
  })));

  const searchId = 'manifest-search';
  const search = h('input', { type: 'search', id: searchId, placeholder: 'filter by variable name', autocomplete: 'off', spellcheck: 'false' });
  const shown = h('span', { class: 'small muted', role: 'status', 'aria-live': 'polite' });
  out.push(h('div', { class: 'searchbar' }, h('label', { for: searchId }, 'Search variables'), search, shown));

  let diffTable = null;
  if (rows.length) {
    diffTable = h('table', { class: 'manifest-diff', id: 'manifest-diff' },
      h('caption', { class: 'visually-hidden' }, 'Variables that differ between the modes'),
      h('thead', null,
        h('tr', null, h('th', { rowspan: '2', scope: 'col' }, 'Kind'), h('th', { rowspan: '2', scope: 'col' }, 'Variable'),
          h('th', { colspan: '3', scope: 'colgroup' }, 'Graph'), h('th', { colspan: '3', scope: 'colgroup' }, 'Eager'),
          h('th', { rowspan: '2', scope: 'col' }, 'Difference')),
        h('tr', null, ['shape', 'dtype', 'trainable', 'shape', 'dtype', 'trainable'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows));
    out.push(h('h3', null, 'Differences'), h('div', { class: 'table-scroll' }, diffTable));
  } else {
    out.push(h('div', { class: 'callout callout-pass' }, h('strong', null,
      `All ${fmtInt(d.matched_count || 0)} variables match by name, shape, dtype and trainable flag.`)));
  }

  // The full manifests, built when first opened (Inception-ResNet-v2 has
  // over a thousand variables per mode).
  const full = [];
  const manifestBox = (mode, m) => {
    const box = h('details', { class: 'full-manifest', dataset: { mode } },
      h('summary', null, `Full ${mode} manifest (${fmtInt(m.count || 0)} variables)`));
    let built = false;
    const build = () => {
      if (built) return;
      built = true;
      const trs = (m.variables || []).map((v, i) => h('tr', { dataset: { search: `${v.name} ${v.eager_name || ''}`.toLowerCase() } },
        h('td', { class: 'numcell' }, num(i + 1, { title: 'creation order' })),
        h('td', { class: 'mono' }, scoped(v.name), v.eager_name && v.eager_name !== v.name ? h('div', { class: 'small muted' }, `eager name ${v.eager_name}`) : null),
        varCells(v),
        h('td', { class: 'numcell' }, num(Array.isArray(v.shape) ? v.shape.reduce((a, b) => a * b, 1) : null, { title: 'values in the variable' }))));
      append(box, h('div', { class: 'table-scroll' }, h('table', { class: 'manifest-full' },
        h('thead', null, h('tr', null, ['#', 'name', 'shape', 'dtype', 'trainable', 'values'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, trs))));
      filter();
    };
    box.addEventListener('toggle', () => { if (box.open) build(); });
    full.push(box);
    return box;
  };
  out.push(h('h3', null, 'Full manifests'), manifestBox('graph', g), manifestBox('eager', e));

  const filter = () => {
    const q = search.value.trim().toLowerCase();
    let n = 0;
    let total = 0;
    for (const tr of (diffTable ? diffTable.tBodies[0].rows : [])) { total++; if (matchRow(tr, q)) n++; }
    for (const box of full) for (const tr of box.querySelectorAll('tbody tr')) matchRow(tr, q);
    shown.textContent = q ? `${n} of ${total} differences match` : '';
    if (q) for (const box of full) if (!box.open && box.querySelector('tbody') === null) { /* built on open */ }
  };
  search.addEventListener('input', debounce(filter, 120));
  search.addEventListener('keydown', (ev) => {
    // Searching the full manifests opens them.
    if (ev.key === 'Enter') for (const box of full) box.open = true;
  });
  return out;
}

// ---- tensor comparisons ----

function npyLink(check, mode, name) {
  if (!tensors) return null;
  const t = tensors.find((x) => x.check === check && x.mode === mode && x.name === name);
  if (!t) return null;
  if (!t.stored) return h('span', { class: 'muted small', title: 'larger than the server keeps (max-blob); statistics only' }, `${mode} not stored`);
  return h('a', { href: npyHref(t), class: 'npy', download: `${name.replace(/[/:]/g, '_')}.${mode}.npy` }, `${mode}.npy`);
}

function npyHref(t) {
  const path = t.name.split('/').map(encodeURIComponent).join('/');
  return `${base}/tensors/${path}.npy?check=${encodeURIComponent(t.check)}&mode=${encodeURIComponent(t.mode)}`;
}

function metric(label, value, title) {
  return h('div', null, h('dt', null, label), h('dd', { title }, value));
}

function at(index) {
  return Array.isArray(index) && index.length ? h('span', { class: 'muted small', title: 'element index' }, ` at (${index.join(', ')})`) : null;
}

function tensorBody(c, check, opts = {}) {
  const parts = [];
  if (c.message) parts.push(h('p', { class: 'small' }, c.message));
  if (c.shape_mismatch) {
    parts.push(h('dl', { class: 'metrics' },
      metric('graph shape', fmtShape(c.expected_shape)), metric('eager shape', fmtShape(c.actual_shape))));
    return parts;
  }
  const w = c.worst || {};
  parts.push(h('dl', { class: 'metrics' },
    metric('mismatched elements', [num(c.mismatched, { title: 'elements where |eager − graph| > atol + rtol·|graph|' }), ' of ',
      num(c.numel, { title: 'elements in the tensor' }), ' ', h('span', { class: 'muted' }, `(${fmtPercent(c.mismatched_fraction)})`)]),
    metric('max abs error', [num(c.max_abs_diff, { title: 'largest |eager − graph|, in the tensor’s own units' }), at(c.max_abs_diff_index)]),
    metric('max rel error', [num(c.max_rel_diff, { title: 'largest |eager − graph| / |graph| (a ratio, no unit)' }), at(c.max_rel_diff_index)]),
    metric('mean abs error', num(c.mean_abs_diff, { title: 'mean |eager − graph| over finite pairs, in the tensor’s units' })),
    metric('tolerance', [h('span', { title: 'relative tolerance' }, 'rtol '), num(c.rtol, { title: 'rtol: relative tolerance (ratio)' }),
      h('span', { title: 'absolute tolerance' }, ', atol '), num(c.atol, { title: 'atol: absolute tolerance, in the tensor’s units' })]),
    metric('would pass with', [h('span', null, 'atol ≥ '), num(c.atol_needed, { title: 'smallest atol that passes with this rtol' }),
      h('span', null, ' or rtol ≥ '), num(c.rtol_needed, { title: 'smallest rtol that passes with this atol' })]),
    metric('worst element', w.index ? [h('span', { class: 'muted small' }, `(${w.index.join(', ')}) `),
      'eager ', num(w.actual, { title: 'eager value at the worst element' }), ', graph ', num(w.expected, { title: 'graph value at the worst element' })] : '—'),
    metric('worst excess', w.abs_diff !== undefined ? [num(w.abs_diff, { title: '|eager − graph| at the worst element' }), ' vs allowed ',
      num(w.allowed, { title: 'atol + rtol·|graph| at that element' })] : '—'),
    metric('ULP distance', w.ulp_distance !== undefined ? [num(w.ulp_distance, { title: `representable ${w.ulp_dtype || ''} values between eager and graph at the worst element (units in the last place)` }), ` ulp (${w.ulp_dtype || ''})`] : '—'),
    metric('dtype', c.dtype_actual === c.dtype_expected ? c.dtype_actual : `eager ${c.dtype_actual}, graph ${c.dtype_expected}`),
    metric('shape', [fmtShape(c.shape), ' ', h('span', { class: 'muted' }, `${fmtInt(c.numel || 0)} elements`)]),
    metric('non-finite', [num((c.nan_actual || 0) + (c.inf_actual || 0), { title: `eager: ${c.nan_actual} NaN, ${c.inf_actual} ±Inf` }), ' eager, ',
      num((c.nan_expected || 0) + (c.inf_expected || 0), { title: `graph: ${c.nan_expected} NaN, ${c.inf_expected} ±Inf` }), ' graph']),
    c.rel_skipped ? metric('rel. skipped', num(c.rel_skipped, { title: 'elements left out of the relative error (graph value 0)' })) : null));
  if (c.value_stats) {
    const vs = c.value_stats;
    const row = (mode, v) => h('tr', null, h('th', { scope: 'row' }, mode),
      ['min', 'max', 'mean', 'sum'].map((k) => h('td', { class: 'numcell' }, num(v[k], { title: `${k} of the ${mode} values` }))),
      h('td', { class: 'numcell' }, num(v.non_finite_count, { title: 'NaN and infinite values' })));
    parts.push(h('div', { class: 'table-scroll' }, h('table', { class: 'value-stats small' },
      h('thead', null, h('tr', null, ['values', 'min', 'max', 'mean', 'sum', 'non-finite'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, vs.graph ? row('graph', vs.graph) : null, vs.eager ? row('eager', vs.eager) : null))));
  }
  if (c.histogram) {
    parts.push(chartBox('small', 300, 560, (width) => histogram(c.histogram, { atol: c.atol, width })));
  }
  const links = opts.modes ? opts.modes.map((m) => npyLink(check, m, c.name)).filter(Boolean) : [];
  if (links.length) parts.push(h('p', { class: 'small' }, 'Download: ', links.map((l, i) => [i ? ' · ' : '', l])));
  return parts;
}

// One <details> per compared tensor; the body (histogram included) is built
// when first opened.
function tensorDetails(c, check, opts = {}) {
  const sumLine = [
    h('span', { class: 'tname' }, scoped(c.name)),
    c.eager_name && c.eager_name !== c.name ? h('span', { class: 'small muted' }, `eager ${c.eager_name}`) : null,
    c.close ? h('span', { class: 'chip chip-pass', title: 'every element within tolerance' }, h('span', { class: 'chip-sym', 'aria-hidden': 'true' }, '✓'), 'close')
      : h('span', { class: 'chip chip-fail', title: 'elements out of tolerance' }, h('span', { class: 'chip-sym', 'aria-hidden': 'true' }, '✗'), c.shape_mismatch ? 'shapes differ' : 'out of tolerance'),
    c.shape_mismatch ? null : h('span', { class: 'small' }, 'max abs ', num(c.max_abs_diff, { title: 'largest |eager − graph|' }),
      ' · max rel ', num(c.max_rel_diff, { title: 'largest |eager − graph| / |graph|' }),
      ' · ', num(c.mismatched, { title: 'elements out of tolerance' }), '/', num(c.numel, { title: 'elements' }), ' mismatched'),
    opts.first ? h('span', { class: 'chip chip-fail first-divergent-chip', title: 'the first endpoint in execution order out of tolerance' }, h('span', { class: 'chip-sym', 'aria-hidden': 'true' }, '▼'), 'first divergence') : null,
  ];
  const box = h('details', { class: 'tensor', dataset: { name: c.name, close: String(Boolean(c.close)) } }, h('summary', null, sumLine));
  let built = false;
  box.addEventListener('toggle', () => {
    if (box.open && !built) { built = true; append(box, tensorBody(c, check, opts)); }
  });
  if (opts.open) { box.open = true; built = true; append(box, tensorBody(c, check, opts)); }
  return box;
}

function comparison(c, d) {
  const out = [];
  const kv = [];
  if (d.fixed_weight_value !== undefined) kv.push(h('dt', null, 'Fixed weight value'), h('dd', null, num(d.fixed_weight_value, { title: 'the value every variable was set to' })));
  if (d.training !== undefined) kv.push(h('dt', null, 'Mode'), h('dd', null, d.training ? 'training (dropout on, batch statistics)' : 'inference'));
  if (d.seed_policy) kv.push(h('dt', null, 'Seed policy'), h('dd', null, typeof d.seed_policy === 'string' ? d.seed_policy
    : `${d.seed_policy.mode} (seed ${d.seed_policy.seed}, operation seed ${d.seed_policy.operation_seed})`));
  if (d.graph_runner) kv.push(h('dt', null, 'Graph runner'), h('dd', { class: 'small muted' }, d.graph_runner));
  if (d.file) kv.push(h('dt', null, 'Checkpoint'), h('dd', null, h('code', null, d.file)));
  if (d.endpoints_compared !== undefined) kv.push(h('dt', null, 'Endpoints'), h('dd', null,
    num(d.endpoints_out_of_tolerance, { title: 'endpoints out of tolerance' }), ' of ', num(d.endpoints_compared, { title: 'endpoints compared' }), ' out of tolerance'));
  if (kv.length) out.push(h('dl', { class: 'kv' }, kv));

  if (c.name === 'checkpoint') out.push(checkpointKeys(d));

  const first = d.first_divergent_endpoint;
  if (first) {
    out.push(h('div', { class: 'callout callout-fail first-divergent', id: `first-${c.name}`, dataset: { name: first.name } },
      h('strong', null, 'Divergence starts at ', h('code', null, first.name),
        ` — endpoint ${(first.execution_index ?? 0) + 1} of ${first.endpoints_in_graph ?? '?'} in execution order`),
      first.message ? h('div', { class: 'small' }, first.message) : null,
      h('div', { class: 'small muted' }, 'Every endpoint before it agrees: start looking at this layer in the two definitions.')));
  }

  const endpoints = d.endpoints || [];
  if (endpoints.length) {
    out.push(h('h3', null, 'Error along execution order'));
    out.push(chartBox('wide', 320, 900, (width) => endpointChart(endpoints, first, { width })), endpointLegend(h));
  }

  if (d.regularization_loss) {
    const r = d.regularization_loss;
    out.push(h('h3', null, 'Regularisation loss'), h('dl', { class: 'kv' },
      h('dt', null, 'Verdict'), h('dd', null, r.close ? 'within tolerance' : 'out of tolerance'),
      h('dt', null, 'Graph'), h('dd', null, num(r.graph, { title: 'regularisation loss in graph mode' })),
      h('dt', null, 'Eager'), h('dd', null, num(r.eager, { title: 'regularisation loss in eager mode' })),
      h('dt', null, 'Difference'), h('dd', null, num(r.abs_diff, { title: 'absolute difference' }), ' (relative ', num(r.rel_diff, { title: 'relative difference' }), ')')));
  }

  const outputs = d.outputs || [];
  if (outputs.length) {
    out.push(h('h3', null, `Outputs (${outputs.length})`));
    out.push(h('div', { class: 'tensors outputs' }, outputs.map((t) => tensorDetails(t, c.name, { modes: ['graph', 'eager'], open: outputs.length <= 3 }))));
  }
  if (endpoints.length) {
    const sorted = endpoints.slice().sort((a, b) => (a.execution_index ?? 0) - (b.execution_index ?? 0));
    out.push(h('h3', null, `Endpoints in execution order (${endpoints.length})`));
    out.push(h('div', { class: 'tensors endpoints-list' }, sorted.map((t) =>
      tensorDetails(t, c.name, { modes: ['graph', 'eager'], first: first && first.name === t.name, open: first && first.name === t.name }))));
  }
  const og = d.only_in_graph_endpoints || [];
  const oe = d.only_in_eager_endpoints || [];
  if (og.length || oe.length) {
    out.push(h('p', { class: 'small' },
      og.length ? ['Only in graph (not compared): ', og.map((n, i) => [i ? ', ' : '', h('code', null, n)])] : null,
      og.length && oe.length ? h('br') : null,
      oe.length ? ['Only in eager (not compared): ', oe.map((n, i) => [i ? ', ' : '', h('code', null, n)])] : null));
  }
  if (d.random_trace) out.push(randomTrace(d.random_trace, c.name));
  return out;
}

function checkpointKeys(d) {
  const out = [];
  const modeKeys = (mode, k) => {
    if (!k) return null;
    const bits = [];
    bits.push(h('p', { class: 'small' }, `${mode}: `, num(k.loaded, { title: 'variables loaded from the checkpoint' }), ' loaded of ',
      num(k.variables, { title: 'variables in the model' }), ' variables'));
    const list = (label, items, fmt) => (items && items.length ? h('div', { class: 'callout callout-fail small' },
      h('strong', null, `${label} (${items.length})`), h('ul', { class: 'messages' }, items.map((x) => h('li', null, fmt(x))))) : null);
    bits.push(list('Missing in the checkpoint', k.missing, (x) => h('code', null, x)));
    bits.push(list('Unexpected keys', k.unexpected, (x) => h('code', null, x)));
    bits.push(list('Shapes differ', k.mis_shaped, (x) => [h('code', null, x.variable), ` ${fmtShape(x.variable_shape)} vs key `, h('code', null, x.key), ` ${fmtShape(x.checkpoint_shape)} ${x.checkpoint_dtype || ''}`]));
    if (k.ignored_dtype_keys && k.ignored_dtype_keys.length) bits.push(h('p', { class: 'small muted' }, 'Ignored (dtype not loaded): ', k.ignored_dtype_keys.map((x, i) => [i ? ', ' : '', h('code', null, typeof x === 'string' ? x : JSON.stringify(x))])));
    return bits;
  };
  out.push(h('h3', null, 'Checkpoint keys'), h('p', { class: 'small' }, num(d.checkpoint_keys, { title: 'keys in the checkpoint file' }), ' keys in the file'));
  out.push(modeKeys('graph', d.graph_keys), modeKeys('eager', d.eager_keys));
  return out;
}

// ---- random-op traces ----

function traceTable(mode, entries, t, firstIdx, partners) {
  const other = mode === 'graph' ? 'eager' : 'graph';
  const rows = entries.map((e, i) => {
    const p = partners[i];
    const diff = e.difference || (p && p.difference) || '';
    const isFirst = i === firstIdx;
    return h('tr', { id: `trace-${t.__check}-${mode}-${i}`, class: (diff ? 'diff' : '') + (isFirst ? ' first-diff' : ''),
                     dataset: { index: i, difference: diff } },
      h('td', { class: 'numcell' }, String(i)),
      h('td', null, e.op, e.detail ? h('div', { class: 'small muted' }, e.detail) : null,
        e.build_only ? h('div', { class: 'small muted', title: 'run by the functional build only; paired with nothing' }, 'build only') : null),
      h('td', { class: 'mono target' }, e.target ? scoped(e.target) : '—'),
      h('td', { class: 'numcell nowrap' }, h('span', { title: 'seed (graph-level), seed2 (operation seed)' }, `${e.seed}, ${e.seed2}`)),
      h('td', { class: 'mono nowrap' }, fmtShape(e.shape)),
      h('td', { class: 'numcell' }, h('span', { title: e.call === 0 ? 'functional build' : `eager call ${e.call}` }, String(e.call))),
      h('td', { class: 'note' },
        diff ? h('span', { class: 'diff-note' }, `≠ ${String(diff).replace(/_/g, ' ')}`) : null,
        isFirst ? h('div', { class: 'diff-note' }, '◀ first difference') : null,
        p && p.index !== undefined && p.index !== null ? h('div', { class: 'small' },
          h('a', { href: `#trace-${t.__check}-${other}-${p.index}`, title: `the ${other} op it pairs with` }, `↔ ${other} #${p.index}`)) : null));
  });
  return h('div', { class: 'trace-side' },
    h('h3', null, `${mode === 'graph' ? 'Graph' : 'Eager'} mode (${entries.length} random ops)`),
    h('div', { class: 'table-scroll trace-scroll' }, h('table', { class: `trace trace-${mode}` },
      h('thead', null, h('tr', null, ['#', 'op', 'target', 'seeds', 'shape', 'call', ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, rows))));
}

function randomTrace(t, check) {
  t.__check = check;
  const out = [h('h3', null, 'Random-op traces')];
  const fd = t.first_difference;
  if (t.match) {
    out.push(h('div', { class: 'callout callout-pass' }, h('strong', null,
      `The random ops pair up: ${t.graph_count} in graph mode, ${t.eager_count} in eager mode, same seeds and shapes.`),
      t.order_differs ? h('div', { class: 'small' }, 'They ran in another order, which is harmless under the constant seed policy.') : null));
  } else {
    out.push(h('div', { class: 'callout callout-fail random-diff' },
      h('strong', null, `The random ops differ: ${t.mismatches} entr${t.mismatches === 1 ? 'y' : 'ies'} with a difference`,
        fd ? ` (first: ${String(fd.kind).replace(/_/g, ' ')}, graph #${fd.graph_index ?? '—'}, eager #${fd.eager_index ?? '—'})` : ''),
      fd && fd.explanation ? h('div', { class: 'fix-box fix' }, h('strong', null, 'Why and how to fix: '), fd.explanation) : null));
  }
  out.push(h('p', { class: 'small muted' }, `graph ${t.graph_count} ops · eager ${t.eager_count} ops`,
    t.build_only_count ? ` · ${t.build_only_count} run by the functional build only` : '',
    t.order_differs ? ' · order differs' : ''));
  // Pairs both ways: graph entries name their eager partner; an eager entry
  // shows its partner's difference too.
  const gp = (t.graph || []).map((x) => ({ index: x.eager_index, difference: x.difference }));
  const ep = (t.eager || []).map(() => null);
  (t.graph || []).forEach((x, i) => {
    if (x.eager_index !== undefined && x.eager_index !== null && x.eager_index < ep.length) {
      ep[x.eager_index] = { index: i, difference: x.difference };
    }
  });
  const g = traceTable('graph', t.graph || [], t, fd ? fd.graph_index : -1, gp);
  const e = traceTable('eager', t.eager || [], t, fd ? fd.eager_index : -1, ep);
  const box = h('div', { class: 'traces' }, g, e);
  out.push(box);
  // Scroll each trace to its first difference once it is on the page.
  requestAnimationFrame(() => {
    for (const sc of box.querySelectorAll('.trace-scroll')) {
      const row = sc.querySelector('tr.first-diff');
      if (row && sc.scrollHeight > sc.clientHeight) sc.scrollTop = Math.max(0, row.offsetTop - 60);
    }
  });
  return out;
}

// ---- reference ----

function reference(c, d) {
  const out = [];
  out.push(h('dl', { class: 'kv' },
    h('dt', null, 'Source'), h('dd', null, d.source || '—'),
    h('dt', null, 'Weights'), h('dd', null, d.weights || '—'),
    d.reference_tensors !== undefined ? [h('dt', null, 'Reference tensors'), h('dd', null, num(Array.isArray(d.reference_tensors) ? d.reference_tensors.length : d.reference_tensors, { title: 'golden tensors given' }))] : null));
  for (const mode of ['graph', 'eager']) {
    const m = d[mode];
    if (!m) continue;
    out.push(h('h3', null, `${mode === 'graph' ? 'Graph' : 'Eager'} mode against the reference `, m.close ? chip('pass') : chip('fail')));
    if (m.first_divergent) {
      out.push(h('div', { class: 'callout callout-fail first-divergent', dataset: { name: m.first_divergent.name } },
        h('strong', null, 'First divergent: ', h('code', null, m.first_divergent.name)),
        m.first_divergent.message ? h('div', { class: 'small' }, m.first_divergent.message) : null));
    }
    if (m.missing && m.missing.length) {
      out.push(h('p', { class: 'small' }, 'Missing in this mode: ', m.missing.map((n, i) => [i ? ', ' : '', h('code', null, n)])));
    }
    out.push(h('div', { class: 'tensors' }, (m.tensors || []).map((t) => tensorDetails(t, c.name, { modes: [mode], open: !t.close }))));
  }
  return out;
}

// ---- models, settings, downloads ----

// What computed the numbers (a kernel or thread change can move results
// by an ulp) and how many models the job held in memory at once.
function engineLine(e, r) {
  const parts = [
    `convolutions on ${e.conv_gemm === 'packed-avx512' ? "the engine's AVX-512 kernel" : 'BLIS'}`,
    `BLIS ${e.blis_arch}`,
    `${e.threads} thread${e.threads === 1 ? '' : 's'}`,
  ];
  if (r && r.runners_at_once !== undefined) parts.push(`${r.runners_at_once} model${r.runners_at_once === 1 ? '' : 's'} in memory at once`);
  const acts = r && r.activation_bytes ? Object.entries(r.activation_bytes) : [];
  if (acts.length) parts.push(`activations ${acts.map(([m, b]) => `${m} ${fmtBytes(b)}`).join(', ')}`);
  if (e.version) parts.push(`equivd ${e.version}`);
  return parts.join(' · ');
}

function modelsSection() {
  const m = report.models || {};
  const modelDl = (label, x) => (x ? [h('h3', null, label), h('dl', { class: 'kv' },
    h('dt', null, 'Model'), h('dd', null, modelLabel(x)),
    x.variables !== undefined ? [h('dt', null, 'Variables'), h('dd', null, num(x.variables, { title: 'variables' }), ' (', num(x.trainable_variables, { title: 'trainable variables' }), ' trainable)')] : null,
    x.parameters !== undefined ? [h('dt', null, 'Parameters'), h('dd', null, num(x.parameters, { title: 'values in all variables' }))] : null,
    x.runner ? [h('dt', null, 'Runner'), h('dd', { class: 'small' }, x.runner)] : null)] : null);
  const st = report.settings || {};
  const tol = st.tolerances || {};
  return h('section', { class: 'card', id: 'models', 'aria-labelledby': 'models-h' },
    h('h2', { id: 'models-h' }, 'Models and settings'),
    modelDl('Graph mode', m.graph), modelDl('Eager mode', m.eager),
    h('h3', null, 'Settings'),
    h('dl', { class: 'kv' },
      st.checks ? [h('dt', null, 'Checks'), h('dd', null, st.checks.join(', '))] : null,
      st.seed_policy ? [h('dt', null, 'Seed policy'), h('dd', null, `${st.seed_policy.mode} (seed ${st.seed_policy.seed}, operation seed ${st.seed_policy.operation_seed})`)] : null,
      [h('dt', null, 'Tolerances'), h('dd', null, 'rtol ', num(tol.rtol, { title: 'relative tolerance' }), ', atol ', num(tol.atol, { title: 'absolute tolerance' }),
        tol.overrides && Object.keys(tol.overrides).length ? ` · ${Object.keys(tol.overrides).length} overrides` : '')],
      st.input ? [h('dt', null, 'Input'), h('dd', null, [st.input.kind, st.input.fill, st.input.shape ? fmtShape(st.input.shape) : null,
        st.input.fill === 'uniform' ? `seed ${st.input.seed}, [${st.input.min}, ${st.input.max})` : null].filter(Boolean).join(' · '))] : null,
      st.eager_calls !== undefined ? [h('dt', null, 'Eager calls'), h('dd', null, `${st.eager_calls} (${st.eager_call})`)] : null,
      st.graph_options ? [h('dt', null, 'Graph passes'), h('dd', { class: 'small' }, Object.entries(st.graph_options).map(([k, v]) => `${k} ${v ? 'on' : 'off'}`).join(', '))] : null,
      report.engine ? [h('dt', null, 'Engine'), h('dd', { class: 'small', id: 'engine' }, engineLine(report.engine, report.resources))] : null),
    h('details', null, h('summary', null, 'All resolved settings (JSON)'), h('pre', { class: 'json' }, JSON.stringify(st, null, 2))),
    report.job ? h('details', null, h('summary', null, 'The job as submitted (JSON)'), h('pre', { class: 'json', id: 'job-json' }, JSON.stringify(report.job, null, 2))) : null);
}

function downloadsSection() {
  const rows = (tensors || []).map((t) => h('tr', null,
    h('td', null, t.check), h('td', null, t.mode), h('td', { class: 'mono' }, scoped(t.name)), h('td', null, t.kind || ''),
    h('td', { class: 'mono' }, `${t.dtype} ${fmtShape(t.shape)}`),
    h('td', { class: 'numcell' }, num(t.min, { title: 'smallest finite value' })), h('td', { class: 'numcell' }, num(t.max, { title: 'largest finite value' })),
    h('td', { class: 'numcell' }, num(t.mean, { title: 'mean of the finite values' })), h('td', { class: 'numcell' }, num(t.std, { title: 'standard deviation of the finite values' })),
    h('td', { class: 'numcell' }, num((t.nan_count || 0) + (t.inf_count || 0), { title: `NaN ${t.nan_count}, ±Inf ${t.inf_count}` })),
    h('td', null, t.stored ? h('a', { href: npyHref(t), download: `${t.name.replace(/[/:]/g, '_')}.${t.check}.${t.mode}.npy` }, '.npy')
      : h('span', { class: 'muted small', title: 'over the server’s max-blob size: statistics only' }, 'not stored'))));
  return h('section', { class: 'card', id: 'downloads', 'aria-labelledby': 'dl-h' },
    h('h2', { id: 'dl-h' }, 'Downloads'),
    h('ul', null,
      h('li', null, h('a', { href: `${base}/report` }, 'Report (JSON)'), h('span', { class: 'muted small' }, ' — the full report, docs/report.md')),
      h('li', null, h('a', { href: `${base}/junit.xml` }, 'JUnit XML'), h('span', { class: 'muted small' }, ' — one testcase per check, for CI')),
      h('li', null, h('a', { href: `${base}/manifests/graph` }, 'Graph manifest'), ' · ', h('a', { href: `${base}/manifests/eager` }, 'eager manifest'), h('span', { class: 'muted small' }, ' (JSON)')),
      h('li', null, h('a', { href: `${base}/events` }, 'Event log'), h('span', { class: 'muted small' }, ' (JSON)'))),
    tensors === null ? h('p', { class: 'muted small' }, 'The stored tensors could not be listed.')
      : tensors.length ? h('details', { id: 'tensor-downloads' }, h('summary', null, `Stored tensors (${tensors.length}) as NumPy .npy`),
        h('div', { class: 'table-scroll' }, h('table', { class: 'small' },
          h('thead', null, h('tr', null, ['check', 'mode', 'name', 'kind', 'type', 'min', 'max', 'mean', 'std', 'non-finite', 'file'].map((x) => h('th', { scope: 'col' }, x)))),
          h('tbody', null, rows))))
        : h('p', { class: 'muted small' }, 'No tensors were stored for this job.'));
}

// ---- start ----

if (!id || !/^[0-9]+$/.test(id)) {
  replace(main, h('h1', null, 'No such job'),
    h('p', null, 'This page needs a job ID, as in ', h('code', null, 'job.html?id=7'), '. ', h('a', { href: './' }, 'See all jobs'), '.'));
} else {
  start();
}
