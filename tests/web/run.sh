#!/bin/sh
# Browser tests of the web UI: start a real `equivd serve` on a free
# loopback port (temporary state, web root = the source web/), drive Debian's
# chromium through playwright-core with node's test runner, stop the daemon.
#
# Exit 77 (automake SKIP) when chromium, node or the npm dev dependency is
# missing, unless CI is set: there a missing piece is a failure.
#
# Environment: EQUIVD_BIN (the equivd to test; default ./equivd or the source
# tree's), CHROMIUM (default /usr/bin/chromium), WEB_TEST_OUT (screenshots;
# default tests/web/output under the current directory), EQ_SRCDIR,
# EQ_WEB_NODE_MODULES (where playwright-core is installed; default the source
# tree's tests/web/node_modules, which `npm ci` fills: a release tarball has
# none, so `make distcheck` in CI points this at the git tree's).

set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${EQ_SRCDIR:-$(cd "$here/../.." && pwd)}
tests=$src/tests/web
chromium=${CHROMIUM:-/usr/bin/chromium}

in_ci() {
    case "${CI:-}" in
        "" | 0 | false | no) return 1 ;;
        *) return 0 ;;
    esac
}

missing=""
command -v node >/dev/null 2>&1 || missing="$missing node (apt-get install nodejs npm);"
[ -x "$chromium" ] || missing="$missing chromium at $chromium (apt-get install chromium);"
modules=${EQ_WEB_NODE_MODULES:-$tests/node_modules}
[ -f "$modules/playwright-core/package.json" ] ||
    missing="$missing playwright-core in $modules (cd tests/web && npm ci, or set EQ_WEB_NODE_MODULES);"
if [ -n "$missing" ]; then
    if in_ci; then
        echo "FAIL: the web UI tests cannot run, missing:$missing" >&2
        exit 1
    fi
    echo "SKIP: missing:$missing"
    exit 77
fi

bin=${EQUIVD_BIN:-}
if [ -z "$bin" ]; then
    for c in ./equivd "$src/equivd"; do
        if [ -x "$c" ]; then
            bin=$c
            break
        fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "FAIL: no equivd binary (build it, or set EQUIVD_BIN)" >&2
    exit 1
fi

out=${WEB_TEST_OUT:-$PWD/tests/web/output}
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/equivd-web.XXXXXX") || exit 1
pid=""

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        # The daemon finishes its running pass first: give it a moment.
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$bin" serve --listen 127.0.0.1 --port 0 --port-file "$tmp/port" --state-dir "$tmp/state" \
    --web-root "$src/web" --workers 1 --engine-threads 1 >"$tmp/daemon.log" 2>&1 &
pid=$!

i=0
while [ ! -s "$tmp/port" ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 200 ]; then
        echo "FAIL: equivd serve did not start" >&2
        cat "$tmp/daemon.log" >&2
        exit 1
    fi
    sleep 0.05
    i=$((i + 1))
done
port=$(cat "$tmp/port")
echo "equivd serve on 127.0.0.1:$port (pid $pid), web root $src/web, screenshots in $out"

modules=$(cd "$modules" && pwd)
EQUIVD_URL="http://127.0.0.1:$port" EQ_SRCDIR="$src" EQ_WEB_NODE_MODULES="$modules" WEB_TEST_OUT="$out" CHROMIUM="$chromium" \
    node --test --test-reporter=spec "$tests/ui.test.mjs"
rc=$?
if [ $rc -ne 0 ]; then
    echo "--- daemon log (last 40 lines) ---"
    tail -n 40 "$tmp/daemon.log"
fi
exit $rc
