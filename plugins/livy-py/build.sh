#!/usr/bin/env bash
# Builds livy.wasm, drover's bundled `livy` plugin, from the Python sources
# beside this script and the contract folder, with the pinned componentize-py,
# and records what it was built from in livy.wasm.inputs.
#
# The component is committed: a cargo build needs no Python toolchain, and
# building it takes a while. A test (crates/plugin-host/tests/livy_py.rs)
# compares livy.wasm.inputs with the sources, so a change to a .py file or to
# the contract without running this script fails CI. componentize-py's output
# is not byte-for-byte reproducible (the Python heap it snapshots differs from
# run to run), so the record holds the inputs' digests, not the output's.
#
#   python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1
#   PATH=$PWD/.venv/bin:$PATH plugins/livy-py/build.sh
#
# COMPONENTIZE_PY may name the tool instead of PATH.
set -euo pipefail

# The pinned version: .ci/run and `drover plugins new --lang python` read it here.
COMPONENTIZE_PY_VERSION=0.25.1
WIT=../wit/drover-plugin@0.2.0
WORLD=plugin-http

cd "$(dirname "${BASH_SOURCE[0]}")"
tool="${COMPONENTIZE_PY:-componentize-py}"
if ! command -v "$tool" >/dev/null; then
    echo "error: componentize-py not found; install it: pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi
have="$("$tool" --version | awk '{print $2}')"
if [ "$have" != "$COMPONENTIZE_PY_VERSION" ]; then
    echo "error: componentize-py $have found, $COMPONENTIZE_PY_VERSION wanted: pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi

# The sources the component is made of: every module but the unit tests.
sources=()
for f in *.py; do
    case "$f" in test_*) ;; *) sources+=("$f") ;; esac
done
wit=("$WIT"/plugin.wit "$WIT"/deps/*.wit)

command=(componentize-py -d "$WIT" -w "$WORLD" componentize app -o livy.wasm)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Built from a copy, so no __pycache__ lands here and nothing else on this
# folder's path is bundled.
cp "${sources[@]}" "$tmp/"
"$tool" -q -d "$WIT" -w "$WORLD" componentize -p "$tmp" app -o "$tmp/livy.wasm"
mv "$tmp/livy.wasm" livy.wasm

{
    echo "# What livy.wasm was built from, written by build.sh: run it after changing any of these."
    echo "tool componentize-py $COMPONENTIZE_PY_VERSION"
    echo "command ${command[*]}"
    sha256sum "${sources[@]}" "${wit[@]}"
    echo "output $(sha256sum livy.wasm)"
} > livy.wasm.inputs
echo "built livy.wasm ($(wc -c < livy.wasm) bytes) with componentize-py $COMPONENTIZE_PY_VERSION"
