#!/usr/bin/env bash
# fuzz.sh <fuzz-build-dir> [seconds]: replays every libFuzzer target's corpus
# (tests/fuzz/corpus/<name>/, <name> = the target without "fuzz_") once; with seconds > 0, then
# fuzzes each target that long, adding what it finds to a scratch corpus (copy interesting inputs
# into the committed corpus by hand). Exits nonzero on any crash, sanitizer report or leak, and on
# any input that takes more than TIMEOUT seconds (libFuzzer's own default is 20 minutes, which
# hid inputs whose cost grows exponentially; the corpora hold some such shapes, so a change that
# brings that back fails here).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: fuzz.sh <fuzz-build-dir> [seconds]}
SECONDS_EACH=${2:-0}
TIMEOUT=10
rc=0
for bin in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    count=$(ls "$corpus" 2>/dev/null | wc -l)
    echo "-- $name: replaying $count inputs from $corpus"
    if ! "$bin" -runs=0 -timeout="$TIMEOUT" "$corpus" >"$BUILD/$name.replay.log" 2>&1; then
        tail -n 40 "$BUILD/$name.replay.log"
        rc=1
        continue
    fi
    if [ "$SECONDS_EACH" -gt 0 ]; then
        scratch=$(mktemp -d)
        cp "$corpus"/* "$scratch"/ 2>/dev/null
        echo "-- $name: fuzzing for $SECONDS_EACH s (new inputs in $scratch)"
        "$bin" -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -max_len=4096 "$scratch" 2>&1 |
            tail -n 5 || rc=1
    fi
done
exit $rc
