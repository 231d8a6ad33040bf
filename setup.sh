#!/bin/sh
# setup.sh - install what equivd needs (Debian 12), configure and build.
#
#   ./setup.sh                 install missing packages, configure, build, then
#                              start the service on 127.0.0.1:8080 (state in
#                              ./equivd-data/) and submit the demo job
#   ./setup.sh --no-install    the same without the package step
#   ./setup.sh --no-start      install and build only
#   ./setup.sh --stop          stop the service started by this script
#   CONFIGURE_FLAGS="--enable-sanitizers" ./setup.sh
#
# Packages are installed only when missing, with sudo when not root.
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential autoconf automake pkg-config \
libblis-dev libjansson-dev libmicrohttpd-dev libsqlite3-dev check \
libcurl4-openssl-dev curl"

install_packages() {
    missing=""
    for p in $PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
            missing="$missing $p"
        fi
    done
    # The browser tests need Chromium and Node.js; a Node.js that is already
    # on the PATH (from elsewhere than Debian) is used as it is.
    [ -x /usr/bin/chromium ] || missing="$missing chromium"
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
    if [ -z "$missing" ]; then
        echo "setup: all Debian packages present"
        return
    fi
    echo "setup: installing:$missing"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
}

STATE=equivd-data
PIDFILE=$STATE/equivd.pid
URL=http://127.0.0.1:8080

stop_service() {
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        kill -TERM "$(cat "$PIDFILE")"
        for _ in $(seq 1 100); do
            kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
            sleep 0.1
        done
        echo "setup: service stopped"
    else
        echo "setup: no service running"
    fi
    rm -f "$PIDFILE"
}

start_service() {
    mkdir -p "$STATE"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "setup: service already running (pid $(cat "$PIDFILE"))"
    else
        # setsid: the service outlives this script and its terminal.
        setsid ./equivd serve --state-dir "$STATE" >"$STATE/equivd.log" 2>&1 </dev/null &
        echo $! >"$PIDFILE"
    fi
    for _ in $(seq 1 100); do
        curl -sf "$URL/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! curl -sf "$URL/healthz" >/dev/null 2>&1; then
        echo "setup: the service did not start; see $STATE/equivd.log" >&2
        exit 1
    fi
    echo "setup: service listening on $URL (log: $STATE/equivd.log)"
    answer=$(curl -sf -H 'Content-Type: application/json' \
        --data-binary @examples/irv2.json "$URL/api/v1/jobs") || {
        echo "setup: submitting the demo job failed" >&2
        exit 1
    }
    echo "setup: demo job submitted: $answer"
    echo "setup: follow it with: curl $URL/api/v1/jobs   or open $URL/ in a browser"
}

case "${1:-}" in
--stop)
    stop_service
    exit 0
    ;;
--no-install) ;;
*) install_packages ;;
esac

# playwright-core for the browser tests (never downloads a browser: the
# tests drive Debian's /usr/bin/chromium).
if [ ! -d tests/web/node_modules ] && command -v npm >/dev/null 2>&1; then
    echo "setup: installing the browser tests' npm dependency"
    (cd tests/web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

echo "setup: configuring"
autoreconf -fi >/dev/null
# shellcheck disable=SC2086
./configure -q ${CONFIGURE_FLAGS:-}
echo "setup: building"
make -j"$(nproc)" >/dev/null
if [ "${1:-}" = "--no-start" ]; then
    echo "setup: built. Run the tests with: make check"
    exit 0
fi
start_service
echo "setup: done. Run the tests with: make check"
