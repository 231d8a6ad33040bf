// list.js - the jobs list (index.html): newest first, filters, pages, live
// progress of running jobs by polling.

import {
  h, replace, markNav, api, ApiError, tokenForm, errorBox, chip, timeEl, jobDuration, fmtSeconds,
  fmtInt, fmtCount, debounce, modelLabel,
} from './util.js';

const POLL_ACTIVE_MS = 1500; // a job on the page is queued or running
const POLL_IDLE_MS = 5000; // first page: new jobs appear
const SEARCH_SCAN = 500; // jobs scanned per page when searching names

const main = document.getElementById('main');
markNav('jobs');

// ---- state in the URL, so a filtered page can be linked and reloaded ----

function readState() {
  const p = new URLSearchParams(location.search);
  return {
    status: p.get('status') || '',
    verdict: p.get('verdict') || '',
    q: p.get('q') || '',
    limit: Math.min(500, Math.max(1, parseInt(p.get('limit') || '25', 10) || 25)),
    cursor: p.get('cursor') || '',
    // Cursors of the pages before this one, for "Newer".
    back: (p.get('back') || '').split(',').filter(Boolean),
  };
}

function writeState(st, push) {
  const p = new URLSearchParams();
  if (st.status) p.set('status', st.status);
  if (st.verdict) p.set('verdict', st.verdict);
  if (st.q) p.set('q', st.q);
  if (st.limit !== 25) p.set('limit', String(st.limit));
  if (st.cursor) p.set('cursor', st.cursor);
  if (st.back.length) p.set('back', st.back.join(','));
  const url = location.pathname + (p.toString() ? '?' + p.toString() : '');
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

let state = readState();

// ---- page skeleton ----

const statusSel = h('select', { id: 'f-status', name: 'status' },
  h('option', { value: '' }, 'any status'),
  ['queued', 'running', 'done', 'failed', 'cancelled'].map((v) => h('option', { value: v }, v)));
const verdictSel = h('select', { id: 'f-verdict', name: 'verdict' },
  h('option', { value: '' }, 'any verdict'),
  ['pass', 'fail', 'error'].map((v) => h('option', { value: v }, v)));
const search = h('input', { id: 'f-name', name: 'q', type: 'search', placeholder: 'part of a job name',
                            autocomplete: 'off', spellcheck: 'false' });
const limitSel = h('select', { id: 'f-limit', name: 'limit' },
  [10, 25, 50, 100].map((v) => h('option', { value: String(v) }, String(v))));

const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs',
                            on: { submit: (ev) => { ev.preventDefault(); applyFilters(true); } } },
  h('div', { class: 'field' }, h('label', { for: 'f-status' }, 'Status'), statusSel),
  h('div', { class: 'field' }, h('label', { for: 'f-verdict' }, 'Verdict'), verdictSel),
  h('div', { class: 'field grow' }, h('label', { for: 'f-name' }, 'Name contains'), search),
  h('div', { class: 'field' }, h('label', { for: 'f-limit' }, 'Per page'), limitSel),
  h('div', { class: 'field actions' }, h('button', { type: 'button', class: 'secondary', id: 'f-clear',
    on: { click: () => { state = { status: '', verdict: '', q: '', limit: 25, cursor: '', back: [] }; syncForm(); applyFilters(true); } } },
  'Clear')));

const statusLine = h('p', { class: 'muted small', id: 'list-status', role: 'status', 'aria-live': 'polite' });
const tableHost = h('div', { id: 'jobs' });
const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });

replace(main,
  h('div', { class: 'page-head' },
    h('h1', null, 'Jobs'),
    h('a', { class: 'button', href: 'submit.html' }, '+ Submit a job')),
  filters, statusLine, tableHost, pager);

function syncForm() {
  statusSel.value = state.status;
  verdictSel.value = state.verdict;
  search.value = state.q;
  limitSel.value = String(state.limit);
  if (limitSel.value !== String(state.limit)) {
    limitSel.appendChild(h('option', { value: String(state.limit) }, String(state.limit)));
    limitSel.value = String(state.limit);
  }
}
syncForm();

function applyFilters(push) {
  state.status = statusSel.value;
  state.verdict = verdictSel.value;
  state.q = search.value.trim();
  state.limit = parseInt(limitSel.value, 10) || 25;
  state.cursor = '';
  state.back = [];
  writeState(state, push);
  load(true);
}

statusSel.addEventListener('change', () => applyFilters(true));
verdictSel.addEventListener('change', () => applyFilters(true));
limitSel.addEventListener('change', () => applyFilters(true));
search.addEventListener('input', debounce(() => applyFilters(false), 300));
window.addEventListener('popstate', () => { state = readState(); syncForm(); load(true); });

// ---- models: the job resource does not name the model, the report does ----

const modelCache = new Map();
const modelPending = new Set(); // job IDs queued or being fetched
const modelQueue = [];
let modelBusy = 0;
const MODEL_FETCH_MAX_PARAMETERS = 2e7; // big reports are not worth a list cell

function cachedModel(id) {
  if (modelCache.has(id)) return modelCache.get(id);
  try {
    const v = sessionStorage.getItem('equivd.model.' + id);
    if (v !== null) { modelCache.set(id, v); return v; }
  } catch { /* no storage */ }
  return undefined;
}

function modelFromReport(r) {
  const m = r && r.models;
  if (!m || !m.graph) return '';
  const g = modelLabel(m.graph);
  if (m.eager && r.settings && r.settings.separate_eager_model) {
    const e = modelLabel(m.eager);
    return e === g ? `${g}, two definitions` : `${g} → ${e}`;
  }
  return g;
}

function requestModel(job, cell) {
  const finished = ['done', 'failed', 'cancelled'].includes(job.status);
  const params = job.summary && job.summary.parameters;
  if (!finished || (params && params > MODEL_FETCH_MAX_PARAMETERS) || modelPending.has(job.id)) return;
  modelPending.add(job.id);
  modelQueue.push([job.id, cell]);
  pumpModels();
}

function pumpModels() {
  while (modelBusy < 3 && modelQueue.length) {
    const [id, cell] = modelQueue.shift();
    if (cachedModel(id) !== undefined) { modelPending.delete(id); fillModel(cell, cachedModel(id)); continue; }
    modelBusy++;
    api(`api/v1/jobs/${id}/report`).then((r) => {
      const label = modelFromReport(r.data);
      modelCache.set(id, label);
      try { sessionStorage.setItem('equivd.model.' + id, label); } catch { /* no storage */ }
      fillModel(cell, label);
    }).catch(() => {
      modelCache.set(id, '');
    }).finally(() => { modelBusy--; modelPending.delete(id); pumpModels(); });
  }
}

function fillModel(cell, label) {
  if (!cell.isConnected) {
    const again = document.querySelector(`td.model[data-id="${cell.dataset.id}"]`);
    if (!again) return;
    cell = again;
  }
  replace(cell, label ? h('span', null, label) : h('span', { class: 'muted' }, '—'));
}

function jobModel(job) {
  if (typeof job.model === 'string') return job.model;
  if (job.model && typeof job.model === 'object') return job.model.label || job.model.name || '';
  return cachedModel(job.id);
}

// ---- rendering ----

function progressCell(job) {
  const p = job.progress || {};
  if (job.status !== 'running' && job.status !== 'queued') return null;
  const done = p.passes_done || 0;
  const total = p.passes_total || 0;
  const label = total ? `${done} of ${total} passes` : job.status === 'queued' ? 'waiting' : 'starting';
  return h('div', { class: 'progress-wrap' },
    h('progress', { max: String(Math.max(1, total)), value: String(done), 'aria-label': `job ${job.id} progress: ${label}` }),
    h('span', { class: 'small muted', title: p.current ? `running now: ${p.current}` : 'forward passes done' },
      label, p.current ? ` · ${p.current}` : ''));
}

function summaryText(job) {
  if (job.summary && typeof job.summary === 'object' && job.summary.text) return job.summary.text;
  if (typeof job.summary === 'string') return job.summary;
  if (job.error) return typeof job.error === 'string' ? job.error : job.error.message || '';
  return '';
}

function row(job) {
  const name = job.name || `job ${job.id}`;
  const href = `job.html?id=${encodeURIComponent(job.id)}`;
  const sum = summaryText(job);
  const model = jobModel(job);
  const modelCell = h('td', { class: 'model', dataset: { id: job.id, label: 'Model' } },
    model === undefined ? h('span', { class: 'muted', title: 'named by the report, once the job has one' }, '…') : model ? model : h('span', { class: 'muted' }, '—'));
  if (model === undefined) requestModel(job, modelCell);
  const dur = jobDuration(job);
  const counts = job.summary && job.summary.check_counts;
  return h('tr', { dataset: { id: job.id, status: job.status, verdict: job.verdict || '' } },
    h('td', { class: 'id', dataset: { label: 'ID' } }, h('span', { class: 'num', title: 'job ID' }, '#' + job.id)),
    h('td', { class: 'name', dataset: { label: 'Job' } },
      h('a', { href, class: 'job-link' }, name),
      sum ? h('div', { class: 'summary small muted', title: sum }, sum) : null),
    modelCell,
    h('td', { class: 'status', dataset: { label: 'Status' } }, chip(job.status, 'status'), progressCell(job),
      job.attempts > 1 ? h('div', { class: 'small muted', title: 'the job was requeued after a stop' }, `attempt ${job.attempts}`) : null),
    h('td', { class: 'verdict', dataset: { label: 'Verdict' } }, job.verdict ? chip(job.verdict, 'verdict') : h('span', { class: 'muted', title: 'no verdict yet' }, '—'),
      counts ? h('div', { class: 'small muted nowrap', title: 'checks passed / checks run' },
        `${counts.pass}/${counts.pass + counts.fail + counts.error} checks`) : null),
    h('td', { class: 'created', dataset: { label: 'Created' } }, timeEl(job.timings && job.timings.created, 'created')),
    h('td', { class: 'duration', dataset: { label: 'Duration' } },
      h('span', { class: 'num', title: job.status === 'running' ? 'running for (wall time so far)' : 'run time (wall clock, from start to end)' },
        dur === null ? '—' : fmtSeconds(dur))));
}

function table(jobs) {
  return h('table', { class: 'jobs' },
    h('caption', { class: 'visually-hidden' }, 'Jobs, newest first'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'ID'), h('th', { scope: 'col' }, 'Job'), h('th', { scope: 'col' }, 'Model'),
      h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Verdict'),
      h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Duration'))),
    h('tbody', null, jobs.map(row)));
}

// ---- loading and polling ----

let lastKey = '';
let pollTimer = null;
let inflight = null;

async function fetchPage() {
  const p = new URLSearchParams();
  if (state.status) p.set('status', state.status);
  if (state.verdict) p.set('verdict', state.verdict);
  p.set('limit', String(state.q ? SEARCH_SCAN : state.limit));
  if (state.cursor) p.set('cursor', state.cursor);
  const r = await api('api/v1/jobs?' + p.toString(), { signal: inflight.signal });
  const data = r.data || {};
  let jobs = data.jobs || [];
  const scanned = jobs.length;
  if (state.q) {
    // The server matches whole names only; parts are matched here, over
    // SEARCH_SCAN jobs per page.
    const q = state.q.toLowerCase();
    jobs = jobs.filter((j) => (j.name || '').toLowerCase().includes(q));
  }
  return { jobs, scanned, next: data.next_cursor || null, first: data.jobs && data.jobs[0], last: data.jobs && data.jobs[data.jobs.length - 1] };
}

async function load(reset) {
  clearTimeout(pollTimer);
  if (inflight) inflight.abort();
  inflight = new AbortController();
  if (reset) lastKey = '';
  let page;
  try {
    page = await fetchPage();
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    lastKey = '';
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      replace(tableHost, tokenForm(e, () => load(true)));
    } else {
      replace(tableHost, errorBox(e, 'Could not load the jobs'));
      pollTimer = setTimeout(() => load(false), POLL_IDLE_MS);
    }
    return;
  }
  render(page);
  const active = page.jobs.some((j) => j.status === 'running' || j.status === 'queued');
  if (active || !state.cursor) {
    pollTimer = setTimeout(() => { if (!document.hidden) load(false); else waitVisible(); },
      active ? POLL_ACTIVE_MS : POLL_IDLE_MS);
  }
}

function waitVisible() {
  const on = () => { document.removeEventListener('visibilitychange', on); load(false); };
  document.addEventListener('visibilitychange', on);
}

function render(page) {
  const key = JSON.stringify([page.jobs.map((j) => [j.id, j.status, j.verdict, j.progress, j.timings && j.timings.finished]),
                              page.next, state]);
  // Times ("5 s ago", running durations) move on; rebuild only when
  // something changed or a running job's clock ticks.
  const ticking = page.jobs.some((j) => j.status === 'running');
  if (key === lastKey && !ticking) { updateTimes(); return; }
  lastKey = key;
  const focusId = document.activeElement && document.activeElement.closest && document.activeElement.closest('tr[data-id]');
  const focusedId = focusId ? focusId.dataset.id : null;
  if (!page.jobs.length) {
    const filtered = state.status || state.verdict || state.q;
    replace(tableHost, h('div', { class: 'empty' },
      h('p', null, filtered ? 'No jobs match these filters' + (state.q && page.next ? ' on this page.' : '.') : 'No jobs yet.'),
      filtered ? null : h('p', null, h('a', { href: 'submit.html' }, 'Submit the first job'), ' — or POST a job JSON to ', h('code', null, 'api/v1/jobs'), '.')));
  } else {
    replace(tableHost, h('div', { class: 'table-scroll' }, table(page.jobs)));
  }
  if (focusedId) {
    const link = tableHost.querySelector(`tr[data-id="${CSS.escape(focusedId)}"] a`);
    if (link) link.focus();
  }
  const parts = [];
  parts.push(`${fmtInt(page.jobs.length)} job${page.jobs.length === 1 ? '' : 's'} shown`);
  if (state.q) parts.push(`names containing “${state.q}” among ${fmtInt(page.scanned)} jobs` +
    (page.first ? ` (IDs ${page.last.id}–${page.first.id})` : ''));
  if (state.cursor) parts.push(`older than job #${state.cursor}`);
  parts.push('updated ' + new Date().toLocaleTimeString());
  statusLine.textContent = parts.join(' · ');
  renderPager(page);
}

function updateTimes() {
  statusLine.textContent = statusLine.textContent.replace(/updated .*$/, 'updated ' + new Date().toLocaleTimeString());
}

function renderPager(page) {
  const btns = [];
  if (state.cursor || state.back.length) {
    btns.push(h('button', { type: 'button', class: 'secondary', on: { click: () => go({ cursor: '', back: [] }) } }, '« Newest'));
    btns.push(h('button', { type: 'button', class: 'secondary', on: { click: () => {
      const back = state.back.slice();
      const prev = back.pop() || '';
      go({ cursor: prev === '-' ? '' : prev, back });
    } } }, '‹ Newer'));
  }
  if (page.next) {
    btns.push(h('button', { type: 'button', class: 'secondary', id: 'older', on: { click: () => {
      go({ cursor: String(page.next), back: state.back.concat([state.cursor || '-']) });
    } } }, 'Older ›'));
  }
  replace(pager, btns);
}

function go(change) {
  Object.assign(state, change);
  writeState(state, true);
  load(true);
  main.focus();
}

load(true);
