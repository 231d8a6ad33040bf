// charts.js - the report's SVG charts, drawn here (no library): the
// histogram of absolute errors of one compared tensor, and the error of
// every endpoint along execution order with the tolerance and the first
// divergent endpoint marked. Colours come from style.css classes, so both
// system themes apply; every mark also has a text or shape cue.

import { h, s, replace, fmtNum, fmtInt, fmtPercent, toNumber } from './util.js';

// A box whose chart is drawn at the box's own width (so text stays at its
// CSS size on a phone), and drawn again when that width changes. Hidden
// boxes (closed <details>) draw when they first get a width.
export function chartBox(cls, minW, maxW, draw) {
  const box = h('div', { class: 'chart-box ' + cls });
  let lastW = 0;
  const redraw = () => {
    const w = Math.round(box.clientWidth);
    if (!w || Math.abs(w - lastW) < 12) return;
    lastW = w;
    replace(box, draw(Math.max(minW, Math.min(maxW, w))));
  };
  if (typeof ResizeObserver === 'function') new ResizeObserver(redraw).observe(box);
  else replace(box, draw(maxW));
  return box;
}

let chartSeq = 0;

function log10(x) { return Math.log(x) / Math.LN10; }

function shortBin(label, upper, i, n) {
  if (label === '0') return '0';
  if (label === 'non-finite') return 'NaN/∞';
  if (label.startsWith('>')) return label;
  const u = toNumber(upper);
  if (i === n - 1 || !Number.isFinite(u)) return label;
  return '≤' + fmtNum(u, 1);
}

// Where a tolerance falls on the decade bins, as a fractional bin index
// (the left edge of bin i is i). Null when it lies outside the finite bins.
function binPosition(upper, tol) {
  const t = toNumber(tol);
  if (!(t > 0)) return null;
  for (let i = 1; i < upper.length; i++) {
    const hi = toNumber(upper[i]);
    const lo = toNumber(upper[i - 1]);
    if (!Number.isFinite(hi)) return null;
    if (t <= hi) {
      if (!(lo > 0)) return i + 0.5; // the (0, 1e-12] bin has no log width
      return i + (log10(t) - log10(lo)) / (log10(hi) - log10(lo));
    }
  }
  return null;
}

// hist = {labels, upper, counts}; opts.atol draws the tolerance floor.
export function histogram(hist, opts = {}) {
  const counts = (hist && hist.counts) || [];
  const labels = (hist && hist.labels) || [];
  const upper = (hist && hist.upper) || [];
  const n = counts.length;
  const total = counts.reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...counts);
  const W = opts.width || 520;
  const H = 222;
  const left = 44;
  const right = 10;
  const top = 34;
  const bottom = 62;
  const bw = (W - left - right) / Math.max(1, n);
  const ph = H - top - bottom;
  const tolPos = opts.atol !== undefined ? binPosition(upper, opts.atol) : null;
  const nonzero = counts.map((c, i) => [c, i]).filter(([c]) => c > 0);
  const desc = `Histogram of |eager − graph| over ${fmtInt(total)} elements in decade bins` +
    (nonzero.length ? `; most in ${labels[nonzero.reduce((a, b) => (b[0] > a[0] ? b : a))[1]]}` : '') +
    (tolPos !== null ? `; atol ${fmtNum(opts.atol)} marked` : '');
  const svg = s('svg', { class: 'chart histogram', viewBox: `0 0 ${W} ${H}`, role: 'img',
                         'aria-label': desc, dataset: { total } });
  svg.appendChild(s('title', null, desc));
  // Axis and a few count gridlines.
  for (const f of [0, 0.5, 1]) {
    const y = top + ph - f * ph;
    svg.appendChild(s('line', { class: 'grid', x1: left, x2: W - right, y1: y, y2: y }));
    svg.appendChild(s('text', { class: 'tick', x: left - 6, y: y + 4, 'text-anchor': 'end' },
      fmtNum(Math.round(f * max))));
  }
  svg.appendChild(s('text', { class: 'axis-label', x: 12, y: top + ph / 2, 'text-anchor': 'middle',
                              transform: `rotate(-90 12 ${top + ph / 2})` }, 'elements'));
  for (let i = 0; i < n; i++) {
    const c = counts[i];
    const x = left + i * bw;
    const hgt = c > 0 ? Math.max(2, (c / max) * ph) : 0;
    const over = tolPos !== null && i + 1 > tolPos && i > 0;
    const g = s('g', { class: 'bin' + (over ? ' over' : '') + (c > 0 ? ' nonzero' : ''), dataset: { bin: i, count: c } });
    g.appendChild(s('title', null, `${labels[i]}: ${fmtInt(c)} element${c === 1 ? '' : 's'}` +
      (total ? ` (${fmtPercent(c / total)} of ${fmtInt(total)})` : '') +
      (over ? '; above atol' : '')));
    // A transparent full-height target makes small bars easy to hover.
    g.appendChild(s('rect', { class: 'hit', x: x, y: top, width: bw, height: ph }));
    if (c > 0) {
      g.appendChild(s('rect', { class: 'bar', x: x + 2, y: top + ph - hgt, width: bw - 4, height: hgt }));
      g.appendChild(s('text', { class: 'bar-label', x: x + bw / 2, y: top + ph - hgt - 4, 'text-anchor': 'middle' },
        fmtNum(c)));
    }
    // Decade bins are labelled by their upper bound at their right edge,
    // so a tolerance line falls on its own tick; the zero, overflow and
    // non-finite bins by name at their centre.
    const u = toNumber(upper[i]);
    const edge = i > 0 && Number.isFinite(u) && !(labels[i] || '').startsWith('>');
    const lx = edge ? x + bw : x + bw / 2;
    const ly = top + ph + 10;
    if (edge) g.appendChild(s('line', { class: 'axis', x1: lx, x2: lx, y1: top + ph, y2: top + ph + 4 }));
    g.appendChild(s('text', { class: 'tick', x: lx + 3, y: ly, 'text-anchor': 'end',
                              transform: `rotate(-50 ${lx + 3} ${ly})` }, edge ? fmtNum(u, 1) : shortBin(labels[i] || '', upper[i], i, n)));
    svg.appendChild(g);
  }
  svg.appendChild(s('line', { class: 'axis', x1: left, x2: W - right, y1: top + ph, y2: top + ph }));
  if (tolPos !== null) {
    const x = left + tolPos * bw;
    svg.appendChild(s('line', { class: 'tol-line', x1: x, x2: x, y1: top - 16, y2: top + ph }));
    svg.appendChild(s('text', { class: 'tol-label', x: x + 3, y: top - 20,
                                'text-anchor': x > W - 110 ? 'end' : 'start' },
      `atol ${fmtNum(opts.atol)}`));
  }
  svg.appendChild(s('text', { class: 'axis-label', x: left + (W - left - right) / 2, y: H - 2,
                              'text-anchor': 'middle' }, '|eager − graph| (decade bins, by upper bound)'));
  return svg;
}

// A log-scale panel of one metric per endpoint.
function panel(svg, o) {
  const { pts, key, tolKey, x0, width, top, height, title, unitTitle, tolName, lo, hi, xs } = o;
  const yOf = (v) => {
    if (!(v > 0)) return top + height; // zero: the baseline row
    const f = (log10(v) - lo) / (hi - lo);
    return top + height - 14 - f * (height - 14);
  };
  svg.appendChild(s('text', { class: 'panel-title', x: x0, y: top - 6 }, title));
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) {
    const y = yOf(Math.pow(10, d));
    svg.appendChild(s('line', { class: 'grid', x1: x0, x2: x0 + width, y1: y, y2: y }));
    if ((d - Math.ceil(lo)) % Math.max(1, Math.ceil((hi - lo) / 6)) === 0) {
      svg.appendChild(s('text', { class: 'tick', x: x0 - 6, y: y + 4, 'text-anchor': 'end' }, `1e${d}`));
    }
  }
  const yz = yOf(0);
  svg.appendChild(s('line', { class: 'grid zero', x1: x0, x2: x0 + width, y1: yz, y2: yz }));
  svg.appendChild(s('text', { class: 'tick', x: x0 - 6, y: yz + 4, 'text-anchor': 'end' }, '0'));
  // Tolerance: a step line through each endpoint's own value (overrides).
  let path = '';
  pts.forEach((p, i) => {
    const t = toNumber(p[tolKey]);
    if (!(t > 0)) return;
    const y = yOf(t);
    const xa = i === 0 ? x0 : (xs[i - 1] + xs[i]) / 2;
    const xb = i === pts.length - 1 ? x0 + width : (xs[i] + xs[i + 1]) / 2;
    path += `${path ? 'L' : 'M'}${xa.toFixed(1)},${y.toFixed(1)}L${xb.toFixed(1)},${y.toFixed(1)}`;
  });
  if (path) {
    svg.appendChild(s('path', { class: 'tol-line', d: path }));
    const t = toNumber(pts[pts.length - 1][tolKey]);
    svg.appendChild(s('text', { class: 'tol-label', x: x0 + width - 2, y: yOf(t) - 4, 'text-anchor': 'end' },
      `${tolName} ${fmtNum(t)}`));
  }
  // The series: a line, then markers (circle within tolerance, cross out).
  let line = '';
  pts.forEach((p, i) => {
    if (p.shape_mismatch) return;
    const v = toNumber(p[key]);
    const y = Number.isFinite(v) ? yOf(v) : top;
    line += `${line ? 'L' : 'M'}${xs[i].toFixed(1)},${y.toFixed(1)}`;
  });
  svg.appendChild(s('path', { class: 'series', d: line }));
  pts.forEach((p, i) => {
    const x = xs[i];
    const g = s('g', { class: 'pt ' + (p.close ? 'ok' : 'bad'), dataset: { name: p.name, index: i } });
    if (p.shape_mismatch) {
      g.appendChild(s('title', null, `${p.name}: shapes differ, not compared`));
      g.appendChild(s('text', { class: 'pt-note', x, y: top + 10, 'text-anchor': 'middle' }, 'shape'));
      svg.appendChild(g);
      return;
    }
    const v = toNumber(p[key]);
    const y = Number.isFinite(v) ? yOf(v) : top;
    g.appendChild(s('title', null,
      `${p.name} (endpoint ${i + 1} of ${pts.length}): ${unitTitle} ${fmtNum(p[key])}; ` +
      `${tolName} ${fmtNum(p[tolKey])}; ${p.close ? 'within tolerance' : 'OUT OF TOLERANCE'}`));
    g.appendChild(s('circle', { class: 'hit', cx: x, cy: y, r: 9 }));
    if (p.close) {
      g.appendChild(s('circle', { class: 'mark', cx: x, cy: y, r: 4 }));
    } else {
      g.appendChild(s('path', { class: 'mark', d: `M${x - 4.5},${y - 4.5}L${x + 4.5},${y + 4.5}M${x - 4.5},${y + 4.5}L${x + 4.5},${y - 4.5}` }));
    }
    svg.appendChild(g);
  });
}

function decadeRange(values) {
  const pos = values.map(toNumber).filter((v) => v > 0 && Number.isFinite(v));
  if (!pos.length) return [-8, -4];
  let lo = Math.floor(log10(Math.min(...pos)));
  let hi = Math.ceil(log10(Math.max(...pos)));
  if (hi === lo) hi = lo + 1;
  while (hi - lo < 3) { lo -= 1; if (hi - lo < 3) hi += 1; }
  return [lo, hi];
}

// endpoints: comparison entries with execution_index; first: the report's
// first_divergent_endpoint (or null).
export function endpointChart(endpoints, first, opts = {}) {
  const pts = endpoints.slice().sort((a, b) => (a.execution_index ?? 0) - (b.execution_index ?? 0));
  const n = pts.length;
  const id = ++chartSeq;
  const W = opts.width || 760;
  const left = 52;
  const right = 14;
  const labelSpace = 78;
  const panelH = 150;
  const top1 = 40;
  const top2 = top1 + panelH + 34;
  const H = top2 + panelH + labelSpace;
  const width = W - left - right;
  const step = n > 1 ? width / n : width;
  const xs = pts.map((_, i) => left + step * (i + 0.5));
  const firstIdx = first ? pts.findIndex((p) => p.name === first.name) : -1;
  const outCount = pts.filter((p) => !p.close).length;
  const desc = `Largest absolute and relative error of ${n} endpoints in execution order; ` +
    `${outCount} out of tolerance` + (firstIdx >= 0 ? `; the divergence starts at ${first.name} (endpoint ${firstIdx + 1})` : '');
  const svg = s('svg', { class: 'chart endpoints', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': desc,
                         id: `endpoint-chart-${id}`, dataset: { firstDivergent: firstIdx >= 0 ? first.name : '' } });
  svg.appendChild(s('title', null, desc));
  const [alo, ahi] = decadeRange(pts.flatMap((p) => [p.max_abs_diff, p.atol]));
  const [rlo, rhi] = decadeRange(pts.flatMap((p) => [p.max_rel_diff, p.rtol]));
  // The first divergence marker goes under the points.
  if (firstIdx >= 0) {
    const x = xs[firstIdx];
    const g = s('g', { class: 'first-divergence', dataset: { name: first.name } });
    g.appendChild(s('title', null, `first divergent endpoint: ${first.name} (${firstIdx + 1} of ${n} in execution order)`));
    g.appendChild(s('rect', { class: 'band', x: x - step / 2, y: top1 - 4, width: step, height: top2 + panelH - top1 + 4 }));
    g.appendChild(s('line', { class: 'marker', x1: x, x2: x, y1: top1 - 18, y2: top2 + panelH }));
    const anchor = x > W - 200 ? 'end' : x < left + 120 ? 'start' : 'middle';
    g.appendChild(s('text', { class: 'marker-label', x, y: top1 - 22, 'text-anchor': anchor },
      `▼ divergence starts: ${first.name}`));
    svg.appendChild(g);
  }
  panel(svg, { pts, key: 'max_abs_diff', tolKey: 'atol', x0: left, width, top: top1, height: panelH,
               title: 'max absolute error |eager − graph|', unitTitle: 'max absolute error', tolName: 'atol',
               lo: alo, hi: ahi, xs });
  panel(svg, { pts, key: 'max_rel_diff', tolKey: 'rtol', x0: left, width, top: top2, height: panelH,
               title: 'max relative error |eager − graph| / |graph|', unitTitle: 'max relative error', tolName: 'rtol',
               lo: rlo, hi: rhi, xs });
  // Endpoint names under the lower panel, thinned when crowded.
  const every = Math.max(1, Math.ceil(n / Math.max(4, width / 18)));
  pts.forEach((p, i) => {
    if (i % every !== 0 && i !== firstIdx) return;
    const x = xs[i];
    const y = top2 + panelH + 12;
    const name = p.name.length > 20 ? '…' + p.name.slice(-19) : p.name;
    svg.appendChild(s('text', { class: 'tick name' + (i === firstIdx ? ' first' : ''), x, y, 'text-anchor': 'end',
                                transform: `rotate(-40 ${x} ${y})` }, s('title', null, p.name), name));
  });
  return svg;
}

// A legend as HTML (text, so it reads without colour).
export function endpointLegend(h) {
  return h('p', { class: 'legend small' },
    h('span', { class: 'lg lg-ok', 'aria-hidden': 'true' }, '○'), ' within tolerance  ',
    h('span', { class: 'lg lg-bad', 'aria-hidden': 'true' }, '×'), ' out of tolerance  ',
    h('span', { class: 'lg lg-tol', 'aria-hidden': 'true' }, '- -'), ' tolerance (atol, rtol)  ',
    h('span', { class: 'lg lg-first', 'aria-hidden': 'true' }, '▼'), ' first divergent endpoint');
}
