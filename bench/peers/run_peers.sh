#!/bin/bash
# Runs the Inception-ResNet-v2 benchmark peers interleaved (A B A B ...) and
# prints one JSON line per peer run, then one summary line.
#
#   bench/peers/run_peers.sh [--weights W.safetensors] [--batch 1] [--runs 10]
#       [--rounds 3] [--warmup 2] [--threads 2]
#       [--torch-variants channels_last,default] [--out-dir DIR]
#       [--extra NAME=COMMAND]...
#
# Without --weights, random weights (seed 0) are made in the out dir once.
# The ONNX model is exported from the same weights when missing or older.
# Its last lines are a JSON summary and the same as a table: ms/image,
# GFLOP/s, percent of the sgemm peak (when an --extra prints
# sgemm_peak_gflops: bench/bench_irv2 --sgemm-peak), ratios to ONNX Runtime
# and PyTorch, peak RSS.
# --extra runs COMMAND (through bash -c) in each round after the peers, with
# EQ_BENCH_WEIGHTS, EQ_BENCH_BATCH, EQ_BENCH_RUNS, EQ_BENCH_WARMUP and
# EQ_BENCH_THREADS in its environment; it should print one JSON line (this is
# where the engine plugs in). A peer that cannot run prints
# {"peer": NAME, "unavailable": REASON} and the others carry on.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# Debian's python3-torch lives in /usr/bin/python3, not in the PATH python3.
py=${EQ_PEERS_PYTHON:-/usr/bin/python3}
weights="" batch=1 runs=10 rounds=3 warmup=2 threads=2
variants="channels_last,default"
outdir="$here/out"
extra_names=() extra_cmds=()

die() { echo "run_peers.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case "$1" in
        --weights) weights=$2 ;;
        --batch) batch=$2 ;;
        --runs) runs=$2 ;;
        --rounds) rounds=$2 ;;
        --warmup) warmup=$2 ;;
        --threads) threads=$2 ;;
        --torch-variants) variants=$2 ;;
        --out-dir) outdir=$2 ;;
        --extra)
            case "$2" in *=*) ;; *) die "--extra wants NAME=COMMAND" ;; esac
            extra_names+=("${2%%=*}"); extra_cmds+=("${2#*=}") ;;
        *) die "unknown option $1 (see the header of $0)" ;;
    esac
    shift 2
done
for v in "$batch" "$runs" "$rounds" "$threads"; do
    case "$v" in ''|*[!0-9]*|0) die "batch, runs, rounds and threads must be positive integers" ;; esac
done
case "$warmup" in ''|*[!0-9]*) die "--warmup must be a non-negative integer" ;; esac
IFS=, read -r -a variant_list <<< "$variants"
for v in "${variant_list[@]}"; do
    case "$v" in channels_last|default) ;; *) die "--torch-variants: unknown variant $v (channels_last, default)" ;; esac
done
mkdir -p "$outdir" || die "cannot create $outdir"

# JSON string from arbitrary text (reasons quote stderr lines).
jstr() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1" 2>/dev/null ||
         printf '"%s"' "$(printf '%s' "$1" | tr -d '"\\\n')"; }
unavailable() { # peer reason
    printf '{"peer": "%s", "batch": %s, "unavailable": %s}\n' "$1" "$batch" "$(jstr "$2")"
}

# The torch peer's environment, per MACHINE-FACTS.md: one OpenBLAS thread, no
# forced Haswell core type, and glibc malloc tuned to reuse freed memory
# instead of paying page faults on every pass.
torch_env=(env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1
           GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184)
ort_env=(env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1)

torch_ok=1 torch_reason=""
if [ ! -x "$py" ]; then
    torch_ok=0 torch_reason="$py not found"
elif ! err=$("$py" -c 'import torch, numpy' 2>&1); then
    torch_ok=0 torch_reason="torch/numpy not importable by $py (run bench/peers/setup.sh): $(printf '%s' "$err" | tail -n 1)"
fi

if [ -z "$weights" ]; then
    weights="$outdir/irv2_seed0.safetensors"
    if [ ! -f "$weights" ] && [ "$torch_ok" = 1 ]; then
        "${torch_env[@]}" "$py" "$here/irv2_torch.py" make-weights "$weights" --seed 0 >&2 ||
            die "could not make $weights"
    fi
fi
[ -f "$weights" ] || die "weights file $weights not found"

ort_ok=1 ort_reason=""
onnx="$outdir/$(basename "${weights%.safetensors}")_b$batch.onnx"
if ! command -v node >/dev/null 2>&1; then
    ort_ok=0 ort_reason="node not found (apt-get install nodejs npm)"
elif ! (cd "$here" && node -e "import('onnxruntime-node').then(()=>{},()=>process.exit(1))") 2>/dev/null; then
    ort_ok=0 ort_reason="onnxruntime-node not installed in $here (run bench/peers/setup.sh)"
elif [ ! -f "$onnx" ] || [ "$weights" -nt "$onnx" ]; then
    if [ "$torch_ok" = 0 ]; then
        ort_ok=0 ort_reason="$onnx missing and cannot be exported: $torch_reason"
    elif ! err=$("${torch_env[@]}" "$py" "$here/irv2_torch.py" export --weights "$weights" \
                  --out "$onnx" --batch "$batch" 2>&1 >/dev/null); then
        ort_ok=0 ort_reason="ONNX export failed: $(printf '%s' "$err" | tail -n 1)"
    fi
fi

# CPU pressure ("some" = share of time a runnable task waited for a core)
# shows whether other jobs were competing with the timed runs.
psi() { sed -n 's/^some avg10=\([0-9.]*\) avg60=\([0-9.]*\).*/avg10=\1 avg60=\2/p' /proc/pressure/cpu 2>/dev/null; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
psi_before=$(psi)
results="$outdir/run_peers.$$.jsonl"
: > "$results"

# run NAME CMD...: print the command's JSON line tagged with the round; a
# failing command becomes an "unavailable" line with its last stderr line.
run() {
    local name=$1 round=$2; shift 2
    local out err rc
    err=$(mktemp)
    out=$("$@" 2>"$err"); rc=$?
    line=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
    if [ -z "$line" ]; then
        line=$(unavailable "$name" "exited $rc: $(tail -n 1 "$err")")
    fi
    rm -f "$err"
    line="{\"round\": $round, ${line#\{}"
    printf '%s\n' "$line" | tee -a "$results"
}

[ "$torch_ok" = 1 ] || unavailable pytorch "$torch_reason" | tee -a "$results"
[ "$ort_ok" = 1 ] || unavailable onnxruntime "$ort_reason" | tee -a "$results"
for ((r = 1; r <= rounds; r++)); do
    if [ "$torch_ok" = 1 ]; then
        for v in "${variant_list[@]}"; do
            if [ "$v" = channels_last ]; then flag=(--channels-last); else flag=(); fi
            run pytorch "$r" "${torch_env[@]}" "$py" "$here/irv2_torch.py" bench \
                --weights "$weights" --batch "$batch" --runs "$runs" --warmup "$warmup" \
                --threads "$threads" "${flag[@]}"
        done
    fi
    if [ "$ort_ok" = 1 ]; then
        run onnxruntime "$r" "${ort_env[@]}" node "$here/ort_bench.mjs" --model "$onnx" \
            --batch "$batch" --runs "$runs" --warmup "$warmup" --threads "$threads"
    fi
    for i in "${!extra_names[@]}"; do
        run "${extra_names[$i]}" "$r" env EQ_BENCH_WEIGHTS="$weights" EQ_BENCH_BATCH="$batch" \
            EQ_BENCH_RUNS="$runs" EQ_BENCH_WARMUP="$warmup" EQ_BENCH_THREADS="$threads" \
            bash -c "${extra_cmds[$i]}"
    done
done

# Summary: per peer (and torch layout), the median of the rounds' medians.
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
psi_after=$(psi)
node - "$results" "$batch" "$load_before" "$load_after" "$psi_before" "$psi_after" <<'EOF' || true
const [file, batch, before, after, psiBefore, psiAfter] = process.argv.slice(2);
const lines = require('fs').readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const groups = {};
for (const l of lines) {
  if (l.unavailable !== undefined || l.ms_per_image_median === undefined) continue;
  const key = l.peer + (l.channels_last === true ? '_channels_last' : l.channels_last === false ? '_default' : '');
  (groups[key] = groups[key] || []).push(l);
}
// Other jobs on the 2 shared cores inflate some rounds badly; the best
// round's median and the fastest single run are less sensitive to that.
const r3 = (x) => Math.round(x * 1000) / 1000;
const summary = { summary: true, batch: Number(batch), ms_per_image_median_of_rounds: {},
  ms_per_image_best_round_median: {}, ms_per_image_min: {}, peak_rss_mb_max: {}, rounds: {},
  loadavg_before: before, loadavg_after: after, cpu_pressure_some_before: psiBefore,
  cpu_pressure_some_after: psiAfter, date: new Date().toISOString() };
for (const [k, ls] of Object.entries(groups)) {
  const meds = ls.map((l) => l.ms_per_image_median);
  summary.ms_per_image_median_of_rounds[k] = r3(med(meds));
  summary.ms_per_image_best_round_median[k] = r3(Math.min(...meds));
  summary.ms_per_image_min[k] = r3(Math.min(...ls.map((l) => l.ms_per_image_min ?? l.ms_per_image_median)));
  summary.peak_rss_mb_max[k] = Math.max(...ls.map((l) => l.peak_rss_mb ?? 0));
  summary.rounds[k] = ls.length;
}
// Throughput, share of the machine's sgemm peak (an --extra printing
// sgemm_peak_gflops, e.g. bench_irv2 --sgemm-peak, measured in the same
// rounds) and ratios to the peers, from the medians of the rounds.
const FLOP_PER_IMAGE = 26.31e9; // Inception-ResNet-v2 without the aux head
const peaks = lines.filter((l) => typeof l.sgemm_peak_gflops === 'number').map((l) => l.sgemm_peak_gflops);
const peak = peaks.length ? med(peaks) : null;
const r1 = (x) => (x === null ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
const ms = summary.ms_per_image_median_of_rounds;
const ort = ms.onnxruntime ?? null;
const torchKey = ['pytorch_channels_last', 'pytorch_default', 'pytorch'].find((k) => k in ms);
const torch = torchKey ? ms[torchKey] : null;
Object.assign(summary, { sgemm_peak_gflops: r1(peak), gflops: {}, pct_of_sgemm_peak: {},
  vs_onnxruntime: {}, vs_pytorch: {} });
const rows = [];
for (const k of Object.keys(ms)) {
  const gf = FLOP_PER_IMAGE / (ms[k] * 1e-3) / 1e9;
  summary.gflops[k] = r1(gf);
  summary.pct_of_sgemm_peak[k] = peak ? r1((100 * gf) / peak) : null;
  summary.vs_onnxruntime[k] = ort ? r2(ms[k] / ort) : null;
  summary.vs_pytorch[k] = torch ? r2(ms[k] / torch) : null;
  rows.push(`| ${k} | ${r1(ms[k])} | ${r1(gf)} | ${summary.pct_of_sgemm_peak[k] ?? 'n/a'} | ` +
    `${summary.vs_onnxruntime[k] ?? 'n/a'} | ${summary.vs_pytorch[k] ?? 'n/a'} | ${summary.peak_rss_mb_max[k]} |`);
}
console.log(JSON.stringify(summary));
// The same figures as a table for people (batch and peak in the header).
console.log(`| batch ${batch} | ms/image | GFLOP/s | % of sgemm peak (${peak ? r1(peak) + ' GFLOP/s' : 'not measured'}) | vs ONNX Runtime | vs PyTorch | peak RSS MB |`);
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
EOF
rm -f "$results"
