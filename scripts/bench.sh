#!/usr/bin/env bash
# bench.sh <build-dir>: runs every benchmark (bench/<name>/run.sh <build-dir>). Each prints one
# line per figure, `BENCH <name> <value> <unit>`, next to the reference it is compared with.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
found=0
rc=0
for b in bench/*/run.sh; do
    [ -x "$b" ] || continue
    found=1
    echo "== $(dirname "$b")"
    "$b" "$BUILD" || rc=1
done
if [ $found = 0 ]; then
    echo "no benchmarks yet (bench/<name>/run.sh)"
fi
exit $rc
