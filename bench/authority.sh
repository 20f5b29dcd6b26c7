#!/usr/bin/env bash
# Authority benchmark: honnin beside openssl (issuance, a 1,000,000-entry CRL, OCSP).
# Usage: bench/authority.sh [authority-bench options]   (see bench/README.md, or pass --help)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v openssl >/dev/null 2>&1; then
    echo "authority.sh: openssl is required" >&2
    exit 1
fi
if ! command -v ab >/dev/null 2>&1; then
    echo "authority.sh: ab not found; installing apache2-utils" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get install -y apache2-utils || { $sudo apt-get update && $sudo apt-get install -y apache2-utils; }
fi

cargo build --release -p honnin -p honnin-bench
# authority-bench finds honnin beside itself in the target directory.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/authority-bench" "$@"
