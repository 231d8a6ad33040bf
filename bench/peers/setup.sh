#!/bin/sh
# Installs what the benchmark peers need. Idempotent: each step is skipped
# when its result is already present, so it is cheap to call before every run.
# Debian python3-torch (run by /usr/bin/python3, not the python3 first on
# PATH) and npm onnxruntime-node with its bundled CPU library (.npmrc skips the
# CUDA download, which fails offline).
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
fail=0

have_py_module() {
    [ -x "$py" ] && "$py" -c "import $1" >/dev/null 2>&1
}

missing_debs=""
have_py_module torch || missing_debs="$missing_debs python3-torch"
have_py_module numpy || missing_debs="$missing_debs python3-numpy"
if [ -n "$missing_debs" ]; then
    echo "setup: installing Debian packages:$missing_debs"
    if [ "$(id -u)" != 0 ]; then
        echo "setup: MISSING:$missing_debs (need root for apt-get; run as root or install them)" >&2
        fail=1
    else
        # Other jobs on the machine may hold the dpkg lock; wait rather than fail.
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086 # the package list is meant to split
        if ! apt-get -q -o DPkg::Lock::Timeout=900 install -y --no-install-recommends $missing_debs; then
            apt-get -o DPkg::Lock::Timeout=900 update >/dev/null 2>&1 || true
            # shellcheck disable=SC2086
            apt-get -q -o DPkg::Lock::Timeout=900 install -y --no-install-recommends $missing_debs || {
                echo "setup: MISSING:$missing_debs (apt-get install failed; the PyTorch peer is unavailable)" >&2
                fail=1
            }
        fi
    fi
else
    echo "setup: python3-torch and python3-numpy already present"
fi

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "setup: MISSING: node/npm (apt-get install nodejs npm); the ONNX Runtime peer is unavailable" >&2
    fail=1
elif [ -f "$here/node_modules/onnxruntime-node/package.json" ] &&
     (cd "$here" && node -e "import('onnxruntime-node').then(()=>process.exit(0),()=>process.exit(1))") >/dev/null 2>&1; then
    echo "setup: onnxruntime-node already installed"
else
    if [ ! -f "$here/.npmrc" ] || ! grep -q 'onnxruntime-node-install=skip' "$here/.npmrc"; then
        echo "setup: $here/.npmrc lacks onnxruntime-node-install=skip; the install would try to download CUDA files" >&2
    fi
    if [ -f "$here/package-lock.json" ]; then cmd="npm ci"; else cmd="npm install"; fi
    echo "setup: $cmd in $here"
    # The same setting as .npmrc, by environment too: newer npm warns that
    # unknown project config keys will stop being passed to install scripts.
    if ! (cd "$here" && npm_config_onnxruntime_node_install=skip $cmd --no-audit --no-fund); then
        echo "setup: MISSING: onnxruntime-node ($cmd failed in $here); the ONNX Runtime peer is unavailable" >&2
        fail=1
    fi
fi

if [ "$fail" = 0 ]; then
    echo "setup: peers ready"
else
    echo "setup: some peers are unavailable (see MISSING lines above)" >&2
fi
exit "$fail"
