#!/usr/bin/env bash
# Platform load benchmark: verified account openings and logins per second through
# `honnin platform serve` over SQLite and PostgreSQL, p50/p99 latency, and the platform's CPU per
# flow beside the verification core's own cost for the same work, in one run.
# Usage: bench/platform.sh [platform-bench options]   (--help lists them; see docs/benchmarks.md)
#
#   --seconds N          timed seconds per database and flow kind (default 10)
#   --databases LIST     sqlite,postgres (default both)
#   --concurrency C      client threads (default 4)
#   --revocation LIST    crl,ocsp (default both)
#   --work-dir DIR       keep the authority, cards, platforms and server logs there
#
# PostgreSQL: an admin URL in HONNIN_BENCH_POSTGRES or --postgres (default
# postgres://postgres@127.0.0.1:5432/postgres); a database is created per platform and dropped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

note() { echo "platform.sh: $*" >&2; }

# psql creates and drops the PostgreSQL databases (only needed when postgres is benchmarked).
wants_postgres=1
prev=""
for a in "$@"; do
    case "$prev" in --databases) [[ "$a" == *postgres* ]] || wants_postgres=0 ;; esac
    case "$a" in --databases=*) [[ "$a" == *postgres* ]] || wants_postgres=0 ;; esac
    prev="$a"
done
if [ "$wants_postgres" = 1 ] && ! command -v psql >/dev/null 2>&1; then
    note "psql not found; installing postgresql-client"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get install -y postgresql-client >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y postgresql-client >&2; }
fi

cargo build --release -p honnin -p honnin-bench --bin honnin --bin platform-bench
# platform-bench finds honnin beside itself in the target directory.
exec "$target_dir/release/platform-bench" "$@"
