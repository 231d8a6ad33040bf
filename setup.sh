#!/bin/sh
# setup.sh - install what equivd needs (Debian 12), configure and build.
#
#   ./setup.sh                 install missing packages, configure, build
#   ./setup.sh --no-install    skip the package step
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

if [ "${1:-}" != "--no-install" ]; then
    install_packages
fi

echo "setup: configuring"
autoreconf -fi >/dev/null
# shellcheck disable=SC2086
./configure -q ${CONFIGURE_FLAGS:-}
echo "setup: building"
make -j"$(nproc)" >/dev/null
echo "setup: done. Run the tests with: make check"
