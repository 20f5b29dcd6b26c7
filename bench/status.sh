#!/usr/bin/env bash
# Batch status check benchmark: a status check over 1,000,000 registered users by the CRL, through
# the platform's API, beside a plain SQL join of the same data in the same database, for SQLite and
# PostgreSQL. Usage: bench/status.sh [--users N] [--databases sqlite,postgres] [--work-dir DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --locked -p honnin -p honnin-bench --bin honnin --bin status-bench >&2
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/status-bench" --honnin "$target_dir/release/honnin" "$@"
