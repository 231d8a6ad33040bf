// util.js - shared by every page: DOM building (text only, never HTML),
// the API client, number and time formatting, chips.
//
// Everything a user or a model supplied (job names, variable names, error
// messages) reaches the page through textContent or attribute setters, so
// none of it is ever parsed as HTML.

// ---- DOM ----

// h('a', {href: '/x', class: 'y', title: 't'}, 'text', child, [more]) builds an
// element. Strings become text nodes; arrays are flattened; null and false
// are skipped. `on: {click: fn}` adds listeners; `dataset: {k: v}` data-*.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// The same for SVG elements (charts).
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k === 'value' && 'value' in el) {
      el.value = String(v);
    } else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'open' || k === 'hidden') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, ...children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, ...c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// Marks the current page in the shared navigation.
export function markNav(page) {
  for (const a of document.querySelectorAll('nav.site a[data-page]')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
  }
}

// ---- API ----

const TOKEN_KEY = 'equivd.token';

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
  } catch { /* private mode: the token lasts for this page only */ }
}

// An API error in the server's one shape: {code, message, path, line, column}
// plus the HTTP status.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : 'http_' + status);
    this.path = e.path || '';
    this.line = e.line;
    this.column = e.column;
  }
}

// fetch + JSON with the bearer token when one is stored. Resolves to
// {status, data, headers}; rejects with ApiError for non-2xx answers.
export async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  const tok = getToken();
  if (tok) headers.Authorization = 'Bearer ' + tok;
  let resp;
  try {
    resp = await fetch(path, { method: opts.method || 'GET', headers, body: opts.body,
                               signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, { error: { code: 'network', message: 'the server did not answer: ' + e.message } });
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return { status: resp.status, data, headers: resp.headers };
}

// A short form shown when the server wants a token (401/403): stores it and
// calls retry().
export function tokenForm(err, retry) {
  const input = h('input', { type: 'password', id: 'token-input', autocomplete: 'off',
                             'aria-describedby': 'token-help' });
  const form = h('form', { class: 'token-form', on: { submit: (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    retry();
  } } },
    h('p', { id: 'token-help' },
      err.status === 403 ? 'The stored API token was refused. ' : 'This server needs an API token. ',
      'It is kept in this browser (local storage) and sent as a Bearer token.'),
    h('label', { for: 'token-input' }, 'API token'), ' ', input, ' ',
    h('button', { type: 'submit' }, 'Use token'));
  return form;
}

// A box for an error: code, message and JSON path as text.
export function errorBox(err, what) {
  return h('div', { class: 'callout callout-fail', role: 'alert' },
    h('strong', null, what ? what + ': ' : '', err.message || String(err)),
    err.path ? h('div', { class: 'muted' }, 'at ', h('code', null, err.path)) : null,
    err.code ? h('div', { class: 'muted small' }, 'error code ', h('code', null, err.code),
                 err.status ? ` (HTTP ${err.status})` : '') : null);
}

// ---- numbers ----

// The report encodes NaN and infinities as strings.
export function toNumber(v) {
  if (typeof v === 'number') return v;
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return NaN;
}

// Three significant digits, exponent form when very small or large.
export function fmtNum(v, digits = 3) {
  if (v === null || v === undefined) return '—';
  const x = toNumber(v);
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '−∞';
  if (x === 0) return '0';
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return fmtInt(x);
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e5) return String(Number(x.toPrecision(digits)));
  const [m, e] = x.toExponential(digits - 1).split('e');
  return `${String(Number(m))}e${e.replace('+', '')}`;
}

export function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtPercent(fraction) {
  const x = toNumber(fraction);
  if (!Number.isFinite(x)) return fmtNum(fraction);
  const p = x * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return (p >= 10 ? p.toFixed(0) : p.toFixed(1)) + '%';
}

export function fmtSeconds(sec) {
  const x = toNumber(sec);
  if (sec === null || sec === undefined || !Number.isFinite(x)) return '—';
  if (x < 1e-3) return `${Number((x * 1e6).toPrecision(3))} µs`;
  if (x < 1) return `${Number((x * 1e3).toPrecision(3))} ms`;
  if (x < 60) return `${Number(x.toPrecision(3))} s`;
  if (x < 3600) return `${Math.floor(x / 60)} min ${Math.round(x % 60)} s`;
  return `${Math.floor(x / 3600)} h ${Math.round((x % 3600) / 60)} min`;
}

export function fmtBytes(b) {
  const x = toNumber(b);
  if (!Number.isFinite(x)) return '—';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = x;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${fmtInt(v)} bytes` : `${Number(v.toPrecision(3))} ${units[i]}`;
}

// Large counts as 59.3 M, 26.3 G (powers of 1000).
export function fmtCount(n) {
  const x = toNumber(n);
  if (!Number.isFinite(x)) return '—';
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [u, sfx] of units) if (Math.abs(x) >= u) return `${Number((x / u).toPrecision(3))} ${sfx}`;
  return fmtInt(x);
}

export function fmtShape(shape) {
  if (!Array.isArray(shape)) return '—';
  return '[' + shape.map((d) => (d === null ? '?' : String(d))).join(', ') + ']';
}

// A number with its unit shown and its meaning on hover:
// num(0.0021, {unit: 's', title: 'wall time of the check'}).
export function num(v, opts = {}) {
  const text = opts.format ? opts.format(v) : fmtNum(v, opts.digits);
  const full = v === null || v === undefined ? '' : String(v);
  const title = [opts.title, full && full !== text ? `exact: ${full}` : null].filter(Boolean).join('\n');
  return h('span', { class: 'num' + (opts.class ? ' ' + opts.class : ''), title: title || null },
    text, opts.unit ? h('span', { class: 'unit' }, ' ' + opts.unit) : null);
}

export function secs(v, title) {
  return h('span', { class: 'num', title: (title || 'time') + (v === null || v === undefined ? '' : `: ${v} seconds`) },
    fmtSeconds(v));
}

// ---- time ----

function pad(n) { return String(n).padStart(2, '0'); }

export function fmtTime(unix) {
  if (unix === null || unix === undefined) return '—';
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(unix, now = Date.now() / 1000) {
  if (unix === null || unix === undefined) return '—';
  const d = Math.max(0, now - unix);
  if (d < 5) return 'just now';
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

// <time> with the relative text and the absolute local time on hover.
export function timeEl(unix, what) {
  if (unix === null || unix === undefined) return h('span', { class: 'muted' }, '—');
  const iso = new Date(unix * 1000).toISOString();
  return h('time', { datetime: iso, title: `${what ? what + ': ' : ''}${fmtTime(unix)} (local time)` },
    fmtAgo(unix));
}

// A job's duration: run time when finished, time so far when running.
export function jobDuration(job, now = Date.now() / 1000) {
  const t = job.timings || {};
  if (t.run_seconds !== null && t.run_seconds !== undefined) return t.run_seconds;
  if (t.started && !t.finished && job.status === 'running') return Math.max(0, now - t.started);
  if (t.started && t.finished) return t.finished - t.started;
  return null;
}

// ---- chips: a text label and a symbol, colour only as a third cue ----

const CHIP = {
  pass: ['✓', 'pass', 'every check that ran passed'],
  fail: ['✗', 'fail', 'a check failed'],
  error: ['!', 'error', 'a check could not run, or the job failed or was cancelled'],
  skipped: ['–', 'skipped', 'not run: an earlier failure or a cancellation'],
  queued: ['…', 'queued', 'waiting for a worker'],
  running: ['▶', 'running', 'a worker is running it'],
  done: ['■', 'done', 'finished; the verdict says how'],
  failed: ['!', 'failed', 'the engine could not run it'],
  cancelled: ['⊘', 'cancelled', 'cancelled before it finished'],
  pending: ['…', 'pending', 'no verdict yet'],
};

export function chip(value, kind) {
  const v = value || 'pending';
  const [sym, label, meaning] = CHIP[v] || ['•', v, ''];
  return h('span', { class: `chip chip-${v}`, dataset: { kind: kind || 'verdict', value: v },
                     title: `${kind === 'status' ? 'status' : 'verdict'}: ${label}${meaning ? ' — ' + meaning : ''}` },
    h('span', { class: 'chip-sym', 'aria-hidden': 'true' }, sym), label);
}

// ---- misc ----

export function qs(name) {
  return new URLSearchParams(location.search).get(name);
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Checks in the guide's order, with a short meaning for people.
export const CHECKS = {
  variables_once: ['Variables created once', 'step 1: the eager model creates every variable on its first call'],
  manifest: ['Variable manifest', 'step 2: both modes have the same variables: names, shapes, dtypes, trainable'],
  fixed_weights: ['Fixed weights', 'step 3: every variable set to one value; outputs and endpoints agree'],
  checkpoint: ['Checkpoint', 'step 3b: a checkpoint loads by name into both modes; outputs agree'],
  random_inference: ['Random init, inference', 'step 4: random initialisers under the seed policy; inference outputs and random-op traces agree'],
  random_training: ['Random init, training', 'step 4: the same in training mode (dropout on, batch statistics)'],
  reference: ['Reference tensors', 'both modes against golden tensors'],
};

export function checkTitle(name) {
  return (CHECKS[name] && CHECKS[name][0]) || name;
}

// A model label from a report's models entry, e.g. "zoo: mlp".
export function modelLabel(m) {
  if (!m) return '—';
  const src = m.source || '';
  const name = m.name || '';
  if (src.startsWith('zoo')) return `${name || src.slice(4)} (zoo)`;
  return name ? `${name} (${src || 'inline'})` : src || '—';
}

// A variable or tensor name with line-break chances after each '/', so
// long scoped names wrap at scope boundaries rather than mid-word.
export function scoped(name) {
  const parts = String(name).split('/');
  const out = [];
  parts.forEach((p, i) => {
    out.push(document.createTextNode(i < parts.length - 1 ? p + '/' : p));
    if (i < parts.length - 1) out.push(document.createElement('wbr'));
  });
  return out;
}
