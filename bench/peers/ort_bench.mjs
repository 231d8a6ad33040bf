#!/usr/bin/env node
// ONNX Runtime peer for the equivd Inception-ResNet-v2 benchmark.
//
//   node ort_bench.mjs --model irv2_b1.onnx --batch 1 --runs 10 [--warmup 2]
//        [--threads 2] [--input rand|ones] [--dump-logits out.json]
//
// Prints one JSON line. If onnxruntime-node cannot be loaded or the model is
// missing it prints {"peer": "onnxruntime", "unavailable": reason} and exits 3,
// so a driver script can carry on with the other peers.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const IMAGE = 299;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function usage(msg) {
  process.stderr.write(`ort_bench.mjs: ${msg}\n` +
    'usage: node ort_bench.mjs --model FILE.onnx --batch B --runs N [--warmup K] ' +
    '[--threads T] [--input rand|ones] [--dump-logits OUT.json]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { model: null, batch: 1, runs: 10, warmup: 2, threads: 2, input: 'rand', dump: null };
  const ints = { '--batch': 'batch', '--runs': 'runs', '--warmup': 'warmup', '--threads': 'threads' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) usage(`${k} needs a value`);
    if (k in ints) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < (k === '--warmup' ? 0 : 1)) usage(`${k} ${v}: not a valid count`);
      a[ints[k]] = n;
    } else if (k === '--model') a.model = v;
    else if (k === '--input') {
      if (v !== 'rand' && v !== 'ones') usage(`--input ${v}: expected rand or ones`);
      a.input = v;
    } else if (k === '--dump-logits') a.dump = v;
    else usage(`unknown option ${k}`);
    i++;
  }
  if (!a.model) usage('--model is required');
  return a;
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Deterministic uniform [0,1) input (xorshift32); its values do not matter
// for timing, only that they are not all equal.
function makeInput(n, kind) {
  const data = new Float32Array(n);
  if (kind === 'ones') return data.fill(1);
  let s = 0x9e3779b9 >>> 0;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    data[i] = (s >>> 8) / 16777216;
  }
  return data;
}

function ortVersion(ort) {
  if (ort.env && ort.env.versions && ort.env.versions.node) return ort.env.versions.node;
  try {
    return JSON.parse(readFileSync(join(here, 'node_modules/onnxruntime-node/package.json'))).version;
  } catch {
    return 'unknown';
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const unavailable = (reason) => {
    emit({ peer: 'onnxruntime', batch: args.batch, unavailable: reason });
    process.exit(3);
  };
  let ort;
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    unavailable(`onnxruntime-node not loadable from ${here} (run setup.sh): ${e.message.split('\n')[0]}`);
  }
  if (!existsSync(args.model)) unavailable(`model ${args.model} not found (export it with irv2_torch.py export)`);

  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  // The export fixes the batch; a mismatch is a driver mistake, not a crash.
  const meta = session.inputMetadata && session.inputMetadata[0];
  if (meta && meta.shape && typeof meta.shape[0] === 'number' && meta.shape[0] !== args.batch) {
    unavailable(`model ${args.model} was exported for batch ${meta.shape[0]}, not --batch ${args.batch}`);
  }
  const dims = [args.batch, 3, IMAGE, IMAGE];
  const input = new ort.Tensor('float32', makeInput(dims.reduce((x, y) => x * y), args.input), dims);
  const feeds = { [inName]: input };
  const rssLoaded = process.memoryUsage().rss / (1024 * 1024);

  let out;
  for (let i = 0; i < args.warmup; i++) out = await session.run(feeds);
  const runs = [];
  for (let i = 0; i < args.runs; i++) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const logits = out[outName];
  if (args.dump) {
    writeFileSync(args.dump, JSON.stringify({ input: args.input, layout: 'NCHW', dims: logits.dims,
      logits: Array.from(logits.data) }));
  }
  const perImage = runs.map((r) => r / args.batch);
  const r3 = (x) => Math.round(x * 1000) / 1000;
  emit({
    peer: 'onnxruntime',
    batch: args.batch,
    ms_per_image_median: r3(median(perImage)),
    ms_per_image_min: r3(Math.min(...perImage)),
    ms_runs: runs.map(r3),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024 * 10) / 10,
    rss_after_load_mb: Math.round(rssLoaded * 10) / 10,
    ort_version: ortVersion(ort),
    threads: args.threads,
    warmup: args.warmup,
    model: args.model,
  });
}

main().catch((e) => {
  process.stderr.write(`ort_bench.mjs: ${e.stack || e}\n`);
  process.exit(1);
});
