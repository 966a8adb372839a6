#!/usr/bin/env bash
# test.sh <build-dir>: runs every test against a sanitizer build: unit tests (Criterion), then
# integration tests against real servers started on free loopback ports (tests/integration/run.sh),
# then the end-to-end tests over the whole stack (tests/e2e/run.sh, and beside it faults.sh: the
# same under load with daemons killed). Exits nonzero on any failure.
# Unit test binaries and tool tests run two at a time, their outputs shown whole in order.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. scripts/test-lib.sh
BUILD=${1:?usage: test.sh <build-dir> [fuzz-build-dir]}
FUZZ_BUILD=${2:-}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}

failed=()
start=$SECONDS
OUT=$(mktemp -d /tmp/eventstack-test.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export TEST_WHY=$OUT/why # what each failed test said of why (scripts/test-lib.sh)

echo "== unit tests"
TESTS=()
for t in "$BUILD"/tests/unit/test_*; do
    [ -x "$t" ] && TESTS+=("$t")
done
run_two unit {} --jobs=2

echo "   ($((SECONDS - start)) s so far)"
echo "== tools"
TESTS=()
for t in tests/tools/test_*.sh; do
    [ -x "$t" ] && TESTS+=("$t")
done
run_two tools {} "$BUILD"

echo "   ($((SECONDS - start)) s so far)"
echo "== documentation: every configuration variable is in README.md"
for bin in gateway registry processor rules store output devkafka devtoken; do
    for var in $("$BUILD/bin/$bin" --help | awk 'NR > 3 && $1 ~ /^[A-Z][A-Z0-9_]+$/ { print $1 }'); do
        if ! grep -q "\b$var\b" README.md; then
            echo "README.md does not document $var ($bin)"
            failed+=("docs")
        fi
    done
done

if [ -n "$FUZZ_BUILD" ]; then
    echo "== fuzz corpora (replayed under libFuzzer + ASan/UBSan)"
    if ! scripts/fuzz.sh "$FUZZ_BUILD" 0 </dev/null; then
        failed+=("fuzz")
    fi
fi

echo "   ($((SECONDS - start)) s so far)"
echo "== integration tests"
if ! tests/integration/run.sh "$BUILD" </dev/null; then
    failed+=("integration")
fi

echo "   ($((SECONDS - start)) s so far)"
echo "== end-to-end tests (faults.sh alongside run.sh, its output shown when it ends)"
tests/e2e/faults.sh "$BUILD" </dev/null >"$OUT/e2e-faults.out" 2>&1 &
faults=$!
if ! tests/e2e/run.sh "$BUILD" </dev/null; then
    failed+=("e2e")
fi
if ! wait "$faults"; then
    failed+=("e2e-faults")
    why e2e-faults "$OUT/e2e-faults.out"
fi
cat "$OUT/e2e-faults.out"

echo "== tests finished in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    if [ -s "$TEST_WHY" ]; then
        echo "== why: the lines of each failed test that say so"
        cat "$TEST_WHY"
    fi
    exit 1
fi
echo "all tests passed"
