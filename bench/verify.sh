#!/usr/bin/env bash
# Verification benchmark: honnin's CRL index (1,000,000 and 10,000,000 entries) and full signature
# verifications, beside x509-cert, Python cryptography, openssl and Go, in one run.
# Usage: bench/verify.sh [verify-bench options]   (see docs/benchmarks.md, or pass --help)
#
# Installs what is missing (golang-go from apt; cryptography with pip into a virtual environment),
# builds the Go peer (standard library only, offline) and verify-bench (release), and runs it.
# The virtual environment, the Go build cache and the Go peer stay in target/verify-bench/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
state="$target_dir/verify-bench"
mkdir -p "$state"

note() { echo "verify.sh: $*" >&2; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
apt_install() {
    $sudo apt-get install -y "$@" >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y "$@" >&2; }
}

if ! command -v openssl >/dev/null 2>&1; then
    note "openssl not found; installing it"
    apt_install openssl
fi

# Python cryptography, in a virtual environment of the benchmark's own.
venv="$state/venv"
if [ ! -x "$venv/bin/python" ]; then
    note "creating $venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
fi
if ! "$venv/bin/python" -c 'import cryptography' 2>/dev/null; then
    note "installing cryptography into $venv"
    "$venv/bin/python" -m pip install --quiet cryptography >&2 || note "pip install cryptography failed; the Python peer will be reported as failed"
fi
export VERIFY_BENCH_PYTHON="$venv/bin/python"

# The Go peer: standard library only, built offline.
if ! command -v go >/dev/null 2>&1; then
    note "go not found; installing golang-go"
    apt_install golang-go || note "cannot install golang-go; the Go peer will be skipped"
fi
if command -v go >/dev/null 2>&1; then
    export GOCACHE="$state/go/cache" GOPATH="$state/go/path" GOPROXY=off GOTOOLCHAIN=local GOFLAGS=
    (cd bench/go && go build -o "$state/verifybench-go" .)
    export VERIFY_BENCH_GO_PEER="$state/verifybench-go"
fi

cargo build --release -p honnin-bench --bin verify-bench
exec "$target_dir/release/verify-bench" "$@"
