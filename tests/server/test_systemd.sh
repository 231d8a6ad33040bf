#!/bin/sh
# test_systemd.sh - systemd-analyze verify on the built unit, with ExecStart
# pointed at a binary that exists in the build tree (verify checks it).
# Skips (exit 77) where systemd-analyze is missing.
set -eu
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
unit=systemd/equivd.service
test -f "$unit" || { echo "FAIL: $unit was not built"; exit 1; }
dir=$(mktemp -d /tmp/equivd-unit-XXXXXX)
trap 'rm -rf "$dir"' EXIT
bin=$(pwd)/equivd
sed -e "s|^ExecStart=[^ ]*|ExecStart=$bin|" "$unit" >"$dir/equivd.service"
grep -q '^Type=notify$' "$dir/equivd.service"
grep -q '^DynamicUser=yes$' "$dir/equivd.service"
grep -q '^MemoryMax=' "$dir/equivd.service"
out=$(systemd-analyze verify "$dir/equivd.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some warnings; show any that name our unit.
if printf '%s\n' "$out" | grep -q 'equivd.service'; then
    printf '%s\n' "$out"
    exit 1
fi
echo "PASS: systemd-analyze verify"
