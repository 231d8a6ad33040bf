// Browser tests of the web UI against a real daemon (run.sh starts it and
// sets EQUIVD_URL). playwright-core drives Debian's chromium headless; no
// browser is downloaded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

// run.sh names the node_modules that holds playwright-core: the source
// tree's tests/web/node_modules, or another one (a release tarball has none;
// `make distcheck` borrows the git tree's through EQ_WEB_NODE_MODULES).
const MODULES = process.env.EQ_WEB_NODE_MODULES;
if (!MODULES) throw new Error('run through tests/web/run.sh (EQ_WEB_NODE_MODULES is needed)');
const { chromium } = createRequire(import.meta.url)(path.join(MODULES, 'playwright-core'));

const BASE = process.env.EQUIVD_URL;
const SRC = process.env.EQ_SRCDIR;
const OUT = process.env.WEB_TEST_OUT || path.join(os.tmpdir(), 'equivd-web-output');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const XSS_NAME = '<img src=x onerror=alert(1)>';

if (!BASE || !SRC) throw new Error('run through tests/web/run.sh (EQUIVD_URL and EQ_SRCDIR are needed)');
fs.mkdirSync(OUT, { recursive: true });

let context;
let profile;
const jobs = {}; // example name -> job resource
const dialogs = [];
const violations = [];
const pageErrors = [];

// ---- helpers ----

async function apiJson(p, opts = {}) {
  const r = await fetch(BASE + p, opts);
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
}

async function submit(job, wait = 120) {
  const r = await apiJson(`/api/v1/jobs${wait ? `?wait=${wait}` : ''}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(job),
  });
  assert.ok(r.status === 200 || r.status === 202, `submit ${job.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

function example(name) {
  return JSON.parse(fs.readFileSync(path.join(SRC, 'examples', `${name}.json`), 'utf8'));
}

// A raw GET: the path goes on the wire exactly as written (fetch would
// normalise "..").
function rawGet(rawPath) {
  const u = new URL(BASE);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'GET', path: rawPath }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function newPage(opts = {}) {
  const page = await context.newPage();
  await page.setViewportSize({ width: opts.width || 1280, height: opts.height || 900 });
  await page.emulateMedia({ colorScheme: opts.scheme || 'light' });
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function noHorizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}

// Every number the page shows says its unit or meaning on hover.
async function numbersWithoutTitle(page) {
  return page.evaluate(() => [...document.querySelectorAll('.num')]
    .filter((e) => e.offsetParent !== null && !(e.getAttribute('title') || '').trim())
    .map((e) => e.textContent).slice(0, 10));
}

// ---- set-up: browser and the jobs every test reads ----

before(async () => {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'equivd-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-quic', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  // Record what a successful injection would do: a dialog, or a CSP
  // violation from an inline handler the page let in.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window.__cspViolations = window.__cspViolations || []).push(`${e.violatedDirective} ${e.blockedURI}`);
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  context.on('console', (m) => { if (m.text().startsWith('CSP violation')) violations.push(m.text()); });

  // Small, fast jobs: one passing, one per kind of finding.
  for (const name of ['scaling_fixed', 'scaling_broken', 'unnamed_layers_broken', 'functional_num_random_ops',
    'mismigrated_bn_epsilon']) {
    jobs[name] = await submit(example(name));
    assert.equal(jobs[name].status, 'done', `${name} did not finish: ${JSON.stringify(jobs[name])}`);
  }
  jobs.xss = await submit({ name: XSS_NAME, model: { zoo: 'scaling_fixed' }, checks: ['variables_once', 'manifest'] });
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

// ---- static serving ----

test('static files: pages, types and a CSP that forbids inline scripts', async () => {
  for (const [p, type] of [['/', 'text/html'], ['/index.html', 'text/html'], ['/job.html', 'text/html'],
    ['/submit.html', 'text/html'], ['/util.js', 'text/javascript'], ['/style.css', 'text/css']]) {
    const r = await rawGet(p);
    assert.equal(r.status, 200, p);
    assert.ok(r.headers['content-type'].startsWith(type), `${p}: ${r.headers['content-type']}`);
    const csp = r.headers['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/, `${p}: CSP ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${p}: CSP ${csp}`);
  }
  // The pages themselves hold no inline script, style or handler.
  for (const f of fs.readdirSync(path.join(SRC, 'web')).filter((x) => x.endsWith('.html'))) {
    const html = fs.readFileSync(path.join(SRC, 'web', f), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${f}: inline <script>`);
    assert.doesNotMatch(html, /<style/i, `${f}: <style>`);
    assert.doesNotMatch(html, /\s(on[a-z]+|style)\s*=/i, `${f}: inline handler or style attribute`);
  }
  // No JS module builds HTML from strings.
  for (const f of fs.readdirSync(path.join(SRC, 'web')).filter((x) => x.endsWith('.js'))) {
    const js = fs.readFileSync(path.join(SRC, 'web', f), 'utf8');
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, `${f} writes HTML`);
  }
});

test('static files: no path escapes web/', async () => {
  const outside = path.join(SRC, 'README.md');
  const probes = [
    '/../README.md', '/../../etc/passwd', '/%2e%2e/README.md', '/%2E%2E/%2E%2E/etc/passwd',
    '/..%2fREADME.md', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/.%2e/README.md', '/%2e./README.md',
    '/index.html/../../README.md', '/web/../../README.md', '//etc/passwd', '/%2fetc%2fpasswd',
    `/${outside}`, `/%2f${outside.slice(1).replace(/\//g, '%2f')}`, '/..\\README.md', '/%5c..%5cREADME.md',
    '/%252e%252e/README.md', '/./index.html',
  ];
  const readme = fs.readFileSync(outside, 'utf8').slice(0, 60);
  for (const p of probes) {
    const r = await rawGet(p);
    assert.ok(r.status === 404 || r.status === 400, `${p}: HTTP ${r.status}`);
    assert.ok(!r.body.includes('root:') && !r.body.includes(readme), `${p}: leaked a file`);
  }
  // A NUL cuts the path short in the server: whatever it answers, it is
  // not a file from outside web/.
  const index = fs.readFileSync(path.join(SRC, 'web', 'index.html'), 'latin1');
  for (const p of ['/%00/../README.md', '/%00/../../etc/passwd']) {
    const r = await rawGet(p);
    assert.ok(r.status === 404 || r.status === 400 || (r.status === 200 && r.body === index), `${p}: HTTP ${r.status}`);
    assert.ok(!r.body.includes('root:') && !r.body.includes(readme), `${p}: leaked a file`);
  }
});

// ---- jobs list ----

test('jobs list: submitted jobs with status and verdict chips, filters, pages', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/`);
  const rowFor = (j) => page.locator(`table.jobs tbody tr[data-id="${j.id}"]`);
  await rowFor(jobs.mismigrated_bn_epsilon).waitFor();
  for (const name of Object.keys(jobs)) await rowFor(jobs[name]).waitFor();
  // Newest first.
  const ids = await page.locator('table.jobs tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.dataset.id)));
  assert.deepEqual(ids, ids.slice().sort((a, b) => b - a));
  const bad = rowFor(jobs.mismigrated_bn_epsilon);
  assert.equal(await bad.locator('td.verdict .chip').getAttribute('data-value'), 'fail');
  assert.match(await bad.locator('td.verdict .chip').textContent(), /fail/);
  assert.match(await bad.locator('td.status .chip').textContent(), /done/);
  assert.match(await bad.locator('td.name .summary').textContent(), /divergence starts at Conv2/);
  assert.match(await bad.locator('td.created time').getAttribute('title'), /\d{4}-\d\d-\d\d/);
  assert.match(await rowFor(jobs.scaling_fixed).locator('td.verdict .chip').textContent(), /pass/);
  // The model comes from the report.
  await page.waitForFunction((id) => /small_cnn/.test(document.querySelector(`tr[data-id="${id}"] td.model`).textContent),
    jobs.mismigrated_bn_epsilon.id);
  assert.deepEqual(await numbersWithoutTitle(page), []);
  await page.screenshot({ path: path.join(OUT, 'list.png'), fullPage: true });

  // Verdict filter.
  await page.selectOption('#f-verdict', 'fail');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('table.jobs tbody tr')];
    return rows.length > 0 && rows.every((r) => r.dataset.verdict === 'fail');
  });
  assert.match(page.url(), /verdict=fail/);
  const failing = await page.locator('table.jobs tbody tr').count();
  assert.equal(failing, 4);
  // Name search (parts of names).
  await page.selectOption('#f-verdict', '');
  await page.fill('#f-name', 'scaling');
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll('table.jobs tbody tr .job-link')].map((a) => a.textContent);
    return names.length === 2 && names.every((n) => n.includes('scaling'));
  });
  await page.fill('#f-name', 'no-such-job-name');
  await page.locator('.empty').waitFor();
  await page.click('#f-clear');
  await rowFor(jobs.xss).waitFor();

  // Pages of two.
  await page.goto(`${BASE}/?limit=2`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  const first = await page.locator('table.jobs tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.id));
  assert.equal(first.length, 2);
  await page.click('#older');
  await page.waitForFunction((prev) => {
    const now = [...document.querySelectorAll('table.jobs tbody tr')].map((r) => r.dataset.id);
    return now.length === 2 && !now.includes(prev[0]);
  }, first);
  const second = await page.locator('table.jobs tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.dataset.id)));
  assert.ok(Math.max(...second) < Math.min(...first.map(Number)), 'older page holds older jobs');
  await page.getByRole('button', { name: '‹ Newer' }).click();
  await page.waitForFunction((prev) => [...document.querySelectorAll('table.jobs tbody tr')].map((r) => r.dataset.id).join() === prev.join(), first);

  // Phone width, dark theme: cards, no sideways scrolling.
  const phone = await newPage({ width: 390, height: 844, scheme: 'dark' });
  await phone.goto(`${BASE}/`);
  await phone.locator(`tr[data-id="${jobs.mismigrated_bn_epsilon.id}"]`).waitFor();
  assert.ok(await noHorizontalOverflow(phone), 'list overflows at 390px');
  const bg = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark theme background ${bg}`);
  await phone.screenshot({ path: path.join(OUT, 'list-phone-dark.png'), fullPage: true });
  await phone.close();
  await page.close();
});

test('jobs list: keyboard reaches and opens a job', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/`);
  const link = page.locator(`tr[data-id="${jobs.scaling_fixed.id}"] a.job-link`);
  await link.waitFor();
  // Tab through until the link has focus (skip link, nav, filters, rows).
  let focused = false;
  for (let i = 0; i < 60 && !focused; i++) {
    await page.keyboard.press('Tab');
    focused = await link.evaluate((a) => a === document.activeElement);
  }
  assert.ok(focused, 'the job link is reachable with Tab');
  await page.keyboard.press('Enter');
  await page.waitForURL(/job\.html\?id=/);
  await page.locator('#checklist').waitFor();
  await page.close();
});

// ---- submit ----

test('submit: the form creates a job and goes to it', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/submit.html`);
  await page.selectOption('#zoo-model', 'scaling_fixed');
  await page.getByLabel('Name', { exact: true }).fill('form-submitted');
  await page.uncheck('#check-random_training');
  const preview = JSON.parse(await page.locator('#form-preview').textContent());
  assert.deepEqual(preview.checks, ['variables_once', 'manifest', 'fixed_weights', 'random_inference']);
  assert.deepEqual(preview.model, { zoo: 'scaling_fixed' });
  await page.click('#submit-form');
  await page.waitForURL(/job\.html\?id=\d+/);
  await page.locator('#verdict').waitFor({ timeout: 60000 });
  assert.match(await page.locator('#verdict').textContent(), /pass/);
  assert.equal(await page.locator('#job-name').textContent(), 'form-submitted');
  assert.equal(await page.locator('#checklist li').count(), 4);
  await page.close();
});

test('submit: a bad field shows the server error at that field', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/submit.html`);
  await page.selectOption('#zoo-model', 'scaling_fixed');
  await page.fill('#eager-calls', '1');
  await page.click('#submit-form');
  const err = page.locator('.field[data-path="eager_calls"] .field-error');
  await err.waitFor();
  assert.match(await err.textContent(), /2 to 100/);
  assert.equal(await page.locator('#eager-calls').getAttribute('aria-invalid'), 'true');
  assert.match(page.url(), /submit\.html/);
  // A zoo argument error lands at its argument.
  await page.fill('#eager-calls', '');
  await page.selectOption('#zoo-model', 'mlp');
  await page.locator('.field[data-path="model.args.num_classes"] input').fill('-3');
  await page.click('#submit-form');
  await page.locator('.field[data-path="model.args.num_classes"] .field-error').waitFor();

  // JSON: a syntax error names its line; a rule names its path; the
  // server's message (which quotes the input) is shown as text.
  await page.click('#tab-json');
  await page.fill('#job-json', '{\n  "model": {"zoo": "mlp"},\n  "checks": [\n}');
  await page.click('#submit-json');
  await page.locator('#json-error #submit-error').waitFor();
  assert.match(await page.locator('#json-error').textContent(), /line 4/);
  await page.fill('#job-json', JSON.stringify({ model: { zoo: XSS_NAME } }));
  await page.click('#submit-json');
  await page.locator('#json-error .error-path').waitFor();
  assert.equal(await page.locator('#json-error .error-path').textContent(), 'model.zoo');
  assert.ok((await page.locator('#json-error').textContent()).includes(XSS_NAME));
  assert.equal(await page.locator('#json-error img').count(), 0);
  await page.close();
});

// ---- reports ----

test('report: a passing job', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/job.html?id=${jobs.scaling_fixed.id}`);
  await page.locator('#checklist').waitFor();
  assert.match(await page.locator('#verdict').textContent(), /pass/);
  const verdicts = await page.locator('#checklist li').evaluateAll((ls) => ls.map((l) => [l.dataset.check, l.dataset.verdict]));
  assert.deepEqual(verdicts, [['variables_once', 'pass'], ['manifest', 'pass'], ['fixed_weights', 'pass'],
    ['random_inference', 'pass'], ['random_training', 'pass']]);
  // Manifest: no differences; the full manifests list every variable.
  const manifest = page.locator('#check-manifest');
  await manifest.locator('details.check-details > summary').click();
  assert.match(await manifest.locator('.callout-pass').textContent(), /All 3 variables match/);
  await manifest.locator('details.full-manifest[data-mode="graph"] > summary').click();
  await manifest.locator('details.full-manifest[data-mode="graph"] tbody tr').first().waitFor();
  assert.equal(await manifest.locator('details.full-manifest[data-mode="graph"] tbody tr').count(), 3);
  // A compared output: metrics and its histogram.
  const fw = page.locator('#check-fixed_weights');
  await fw.locator('details.check-details > summary').click();
  const out = fw.locator('.outputs details.tensor').first();
  await out.locator('svg.histogram').waitFor();
  const total = await out.locator('svg.histogram').getAttribute('data-total');
  assert.ok(Number(total) > 0);
  assert.match(await out.locator('.metrics').textContent(), /max abs error/);
  // What computed it: the conv kernel, BLIS, threads, models at once.
  assert.match(await page.locator('#engine').textContent(),
    /convolutions on (the engine's AVX-512 kernel|BLIS) · BLIS \w+ · \d+ threads? · 2 models in memory at once · activations eager [\d.]+ (bytes|KiB|MiB), graph [\d.]+ (bytes|KiB|MiB)/);
  // Downloads.
  assert.equal(await page.locator('#dl-report').getAttribute('href'), `api/v1/jobs/${jobs.scaling_fixed.id}/report`);
  assert.equal(await page.locator('#dl-junit').getAttribute('href'), `api/v1/jobs/${jobs.scaling_fixed.id}/junit.xml`);
  await page.locator('#tensor-downloads > summary').click();
  const npy = page.locator('#tensor-downloads a[href*=".npy"]').first();
  const href = await npy.getAttribute('href');
  const r = await fetch(new URL(href, `${BASE}/job.html`));
  assert.equal(r.status, 200);
  const magic = Buffer.from(await r.arrayBuffer()).subarray(0, 6).toString('latin1');
  assert.equal(magic, '\x93NUMPY');
  await page.close();
});

test('report: a failing job shows the first divergence, histograms and metrics', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/job.html?id=${jobs.mismigrated_bn_epsilon.id}`);
  await page.locator('#checklist').waitFor();
  assert.match(await page.locator('#verdict').textContent(), /fail/);
  const verdicts = await page.locator('#checklist li').evaluateAll((ls) => ls.map((l) => [l.dataset.check, l.dataset.verdict]));
  assert.deepEqual(verdicts, [['variables_once', 'pass'], ['manifest', 'pass'], ['fixed_weights', 'fail'],
    ['random_inference', 'fail']]);
  const fw = page.locator('#check-fixed_weights');
  assert.equal(await fw.locator('.first-divergent').getAttribute('data-name'), 'Conv2');
  assert.match(await fw.locator('.first-divergent').textContent(), /endpoint 2 of 5/);
  const chart = fw.locator('svg.endpoints');
  await chart.waitFor();
  assert.equal(await chart.getAttribute('data-first-divergent'), 'Conv2');
  assert.match(await chart.locator('.first-divergence .marker-label').textContent(), /Conv2/);
  assert.equal(await chart.locator('.tol-line').count(), 2);
  // One cross (out of tolerance) per panel: Conv2 only.
  assert.equal(await chart.locator('g.pt.bad').count(), 2);
  assert.equal(await chart.locator('g.pt.ok').count(), 8);
  // The first divergent endpoint is open with its histogram: its errors
  // sit above atol.
  const conv2 = fw.locator('.endpoints-list details.tensor[data-name="Conv2"]');
  assert.equal(await conv2.evaluate((d) => d.open), true);
  await conv2.locator('svg.histogram').waitFor();
  assert.ok(await conv2.locator('svg.histogram .bin.over.nonzero').count() > 0);
  assert.match(await conv2.locator('.metrics').textContent(), /504\s*of\s*512/);
  assert.deepEqual(await numbersWithoutTitle(page), []);
  await page.screenshot({ path: path.join(OUT, 'failing-report.png'), fullPage: true });
  // The first screenful, for the README: verdict, checklist, the divergence.
  await page.setViewportSize({ width: 1280, height: 1760 });
  await page.screenshot({ path: path.join(OUT, 'failing-report-top.png') });

  const phone = await newPage({ width: 390, height: 844, scheme: 'dark' });
  await phone.goto(`${BASE}/job.html?id=${jobs.mismigrated_bn_epsilon.id}`);
  await phone.locator('#check-fixed_weights svg.endpoints').waitFor();
  assert.ok(await noHorizontalOverflow(phone), 'report overflows at 390px');
  await phone.screenshot({ path: path.join(OUT, 'failing-report-phone-dark.png'), fullPage: true });
  await phone.close();
  await page.close();
});

test('report: variables created after the first call, with the fix; manifest table with search', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/job.html?id=${jobs.unnamed_layers_broken.id}`);
  const vo = page.locator('#check-variables_once');
  await vo.waitFor();
  const rows = vo.locator('table.offenders tbody tr');
  assert.equal(await rows.count(), 8);
  assert.equal(await rows.first().getAttribute('data-variable'), 'dense_2/kernel:0');
  assert.match(await vo.locator('.offending .fix').first().textContent(), /explicit "name"/);

  const m = page.locator('#check-manifest');
  const diff = m.locator('#manifest-diff tbody tr');
  assert.equal(await diff.count(), 8);
  assert.equal(await m.locator('#manifest-diff tbody tr[data-kind="only_in_eager"]').count(), 8);
  await m.locator('#manifest-search').fill('dense_2');
  await page.waitForFunction(() => [...document.querySelectorAll('#manifest-diff tbody tr')].filter((r) => !r.hidden).length === 2);
  await m.locator('details.full-manifest[data-mode="eager"] > summary').click();
  await page.waitForFunction(() => [...document.querySelectorAll('details.full-manifest[data-mode="eager"] tbody tr')].filter((r) => !r.hidden).length === 2);
  await m.locator('#manifest-search').fill('');
  await page.waitForFunction(() => [...document.querySelectorAll('details.full-manifest[data-mode="eager"] tbody tr')].filter((r) => !r.hidden).length === 12);

  await page.goto(`${BASE}/job.html?id=${jobs.scaling_broken.id}`);
  await page.locator('#check-variables_once .offending').waitFor();
  assert.match(await page.locator('#check-variables_once .offending .fix').textContent(), /cache/);
  assert.equal(await page.locator('#check-variables_once table.offenders tbody tr').first().getAttribute('data-variable'), 'scaling/scale:0');
  await page.close();
});

test('report: random-op traces side by side with the first difference', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/job.html?id=${jobs.functional_num_random_ops.id}`);
  const rt = page.locator('#check-random_training');
  await rt.waitFor();
  assert.equal(await rt.getAttribute('data-verdict'), 'fail');
  assert.match(await rt.locator('.random-diff').textContent(), /functional wrapping/);
  const g = rt.locator('table.trace-graph tr.first-diff');
  const e = rt.locator('table.trace-eager tr.first-diff');
  assert.equal(await g.count(), 1);
  assert.equal(await e.count(), 1);
  assert.equal(await g.getAttribute('data-index'), '1');
  assert.equal(await e.getAttribute('data-index'), '5');
  assert.match(await g.textContent(), /first difference/);
  assert.match(await g.textContent(), /drop1/);
  // Side by side at desktop width.
  const gb = await rt.locator('.trace-side').nth(0).boundingBox();
  const eb = await rt.locator('.trace-side').nth(1).boundingBox();
  assert.ok(eb.x > gb.x + gb.width - 1, 'the traces sit side by side');
  await page.close();
});

test('report: a running job updates as its passes complete', async () => {
  // About ten passes of a small CNN on a large batch: a few seconds.
  const job = await submit({ name: 'live-progress', model: { zoo: 'small_cnn' }, input: { shape: [512, 28, 28, 1] } }, null);
  const page = await newPage();
  await page.goto(`${BASE}/job.html?id=${job.id}`);
  const seen = new Set();
  const deadline = Date.now() + 90000;
  while (Date.now() < deadline) {
    const v = await page.evaluate(() => {
      const p = document.querySelector('#live-progress');
      return p ? `${p.getAttribute('value')}/${p.getAttribute('max')}` : document.querySelector('#verdict') ? 'done' : null;
    });
    if (v) seen.add(v);
    if (v === 'done') break;
    await page.waitForTimeout(150);
  }
  const progress = [...seen].filter((x) => x !== 'done');
  assert.ok(seen.has('done'), `the page showed the verdict (saw ${[...seen]})`);
  assert.ok(progress.length >= 1, `the page showed progress while running (saw ${[...seen]})`);
  assert.match(await page.locator('#verdict').textContent(), /pass/);
  assert.equal(await page.locator('#checklist li').count(), 5);
  await page.close();
});

// ---- safety ----

test('a job named like HTML is shown as text and runs nothing', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/`);
  const link = page.locator(`tr[data-id="${jobs.xss.id}"] a.job-link`);
  await link.waitFor();
  assert.equal(await link.textContent(), XSS_NAME);
  assert.equal(await page.locator('main img').count(), 0);
  await page.goto(`${BASE}/job.html?id=${jobs.xss.id}`);
  await page.locator('#checklist').waitFor();
  assert.equal(await page.locator('#job-name').textContent(), XSS_NAME);
  assert.equal(await page.locator('main img').count(), 0);
  assert.ok((await page.title()).startsWith(XSS_NAME));
  await page.waitForTimeout(300);
  assert.deepEqual(await page.evaluate(() => window.__cspViolations || []), []);
  await page.close();
  assert.deepEqual(dialogs, [], 'no dialog opened');
});

test('no page raised an error or a CSP violation', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(violations, []);
  assert.deepEqual(dialogs, []);
});
