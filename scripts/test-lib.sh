# test-lib.sh: what the test runners share (sourced by scripts/test.sh and
# tests/integration/run.sh). run_two runs the tests listed in the array TESTS two at a time, each
# one's output kept in the scratch directory $OUT and shown whole, in list order, once all ended,
# with its time; a test that fails is named in the array `failed` as <group>/<name>, and the lines
# saying why go to $TEST_WHY (below).
#   run_two <group> <command...>: the placeholder {} in the command stands for the test; the
#   command may be a shell function. The tests must be independent: they start nothing shared.
run_two() {
    local group=$1 t i=0 running=() p
    shift
    for t in "${TESTS[@]}"; do
        i=$((i + 1))
        (
            t0=$SECONDS
            "${@//\{\}/$t}" </dev/null >"$OUT/$i.out" 2>&1
            echo $? >"$OUT/$i.rc"
            echo "-- $(basename "$t"): $((SECONDS - t0)) s" >>"$OUT/$i.out"
        ) &
        running+=($!)
        # the shell's other jobs (servers, tests run alongside) are not waited for
        while [ ${#running[@]} -ge 2 ]; do
            wait -n "${running[@]}"
            for p in "${!running[@]}"; do
                kill -0 "${running[p]}" 2>/dev/null || unset "running[p]"
            done
        done
    done
    [ ${#running[@]} = 0 ] || wait "${running[@]}"
    i=0
    for t in "${TESTS[@]}"; do
        i=$((i + 1))
        echo "-- $(basename "$t")"
        cat "$OUT/$i.out"
        if [ "$(cat "$OUT/$i.rc" 2>/dev/null)" != 0 ]; then
            failed+=("$group/$(basename "$t")")
            why "$group/$(basename "$t")" "$OUT/$i.out"
        fi
    done
    rm -f "$OUT"/*
}

# why <name> <output file>: appends to the file $TEST_WHY (when set) the lines of a failed test's
# output that say why: Criterion's assertion messages and [FAIL] lines, the scripts' FAIL lines,
# sanitizer reports, the last 12 of them. scripts/test.sh prints them last, so that the end of a
# run, which is what a CI log shows, names the cause as well as the test.
why() {
    [ -n "${TEST_WHY:-}" ] || return 0
    {
        echo "-- $1"
        grep -vE '^\{"ts"' "$2" |
            grep -E '^\[----\]|^\[FAIL\]|FAIL|ERROR: |runtime error|Timed out|Crash' | tail -n 12
    } >>"$TEST_WHY"
}
