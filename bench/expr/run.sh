#!/usr/bin/env bash
# bench/expr: evaluations per second of the issue's two expressions on one core, next to the
# same predicate hand-written in C (the reference). Usage: run.sh <build-dir> [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
make -s "$BUILD/bin/bench-expr" >/dev/null
taskset -c 0 "$BUILD/bin/bench-expr" "${2:-2}" 2>/dev/null || "$BUILD/bin/bench-expr" "${2:-2}"
