#!/bin/sh
# test_cli.sh - `equivd run-model`, the command line the README shows: every
# small zoo model runs in both modes on its declared input, graph mode with
# its passes off prints eager mode's numbers, the guide's pitfall shows in
# the variable count, and bad input is refused with exit 2 and a message.
# (Inception-ResNet-v2's numbers are tested by test_irv2, through the API.)
set -u
bin=${EQUIVD_BIN:-./equivd}
[ -x "$bin" ] || { echo "FAIL: no $bin (build it, or set EQUIVD_BIN)"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/equivd-cli.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run NAME ARGS...: stdout in $dir/out, stderr in $dir/err, exit code in $rc
run() {
    "$bin" run-model "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
}

has() { grep -q -e "$1" "$dir/out"; }

for m in mlp small_cnn scaling_broken scaling_fixed unnamed_layers_broken unnamed_layers_fixed; do
    run "$m"
    [ $rc -eq 0 ] || { fail "$m: exit $rc: $(cat "$dir/err")"; continue; }
    has '^eager mode: ' || fail "$m: no eager run"
    has '^graph mode: ' || fail "$m: no graph run"
    [ "$(grep -c '^  output ' "$dir/out")" -eq 2 ] || fail "$m: expected one output line per mode"
    has 'call 1: .* ms, activations [0-9.]* \(bytes\|KiB\|MiB\)' || fail "$m: no activations figure"
done

# Passes off: graph mode computes what eager mode does, bit for bit, so the
# two output lines (shape, sum, min, max) are the same text.
run small_cnn --passes none --input uniform:2x28x28x1
[ $rc -eq 0 ] || fail "small_cnn --passes none: exit $rc"
lines=$(grep '^  output ' "$dir/out" | sort -u | wc -l)
[ "$lines" -eq 1 ] || fail "small_cnn --passes none: eager and graph outputs differ: $(cat "$dir/out")"

# The guide's pitfall: BrokenScalingLayer's uncached tf.Variable is made
# again on every eager call (2 variables after one call, 4 after three);
# FixedScalingLayer keeps its variables.
run scaling_broken --mode eager --input ones:2x4 --calls 3
has '^eager mode: 4 variables' || fail "scaling_broken: expected 4 variables after 3 calls: $(head -2 "$dir/out")"
run scaling_fixed --mode eager --input ones:2x4 --calls 3
has '^eager mode: 2 variables' || fail "scaling_fixed: expected 2 variables after 3 calls: $(head -2 "$dir/out")"

# --json and --manifest write what they say.
run mlp --mode graph --json --manifest "$dir/manifest.json"
[ $rc -eq 0 ] || fail "mlp --json: exit $rc"
head -c 1 "$dir/out" | grep -q '{' || fail "--json: not a JSON object"
grep -q '"activation_bytes"' "$dir/out" || fail "--json: no activation_bytes"
grep -q '"name": "MLP/hidden1/kernel:0"' "$dir/manifest.json" 2>/dev/null ||
    fail "--manifest: MLP/hidden1/kernel:0 is not in the manifest"

# Bad input: exit 2, a message on stderr, nothing half-printed on stdout.
expect_error() { # pattern, args...
    pattern=$1
    shift
    run "$@"
    if [ $rc -ne 2 ]; then
        fail "run-model $*: exit $rc, expected 2"
    elif ! grep -q -e "$pattern" "$dir/err"; then
        fail "run-model $*: stderr lacks '$pattern': $(cat "$dir/err")"
    elif [ -s "$dir/out" ]; then
        fail "run-model $*: printed a report after an error"
    fi
}
expect_error "unknown zoo model 'no_such_model'" no_such_model
expect_error 'mode must be eager, graph or both' mlp --mode sideways
expect_error 'input expects FILL:SHAPE' mlp --input ones
expect_error 'unknown graph pass' mlp --passes fold_everything
expect_error 'dense expects an input of rank 2' mlp --input ones:1x28x28x1
printf '%s\n' '{"name": "x", "body": [{"relu": {}, "as": "y"}], "outputs": ["y"]}' >"$dir/noshape.json"
expect_error 'declares no input shape: give one with --input' "$dir/noshape.json"
printf '{"name": ' >"$dir/truncated.json"
expect_error 'invalid JSON' "$dir/truncated.json"

if [ $failures -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "PASS: run-model"
