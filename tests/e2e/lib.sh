# lib.sh: what the end-to-end tests share (sourced, after scripts/stack-lib.sh): a scratch
# STACK_DIR with every port free, the tokens' key, the start, failing, the exit that stops the
# stack and looks for sanitizer reports, PostgreSQL queries awaited, and the example pipeline's
# windows expected and found.
# Inputs: E2E_NAME (the prefix of messages), BUILD (the build directory); E2E_KEEP=1 keeps the
# daemons' logs.

export STACK_DIR
STACK_DIR=$(mktemp -d "/tmp/eventstack-$E2E_NAME.XXXXXX")
export BUILD_DIR=$ROOT/$BUILD NPM_PREFIX=$ROOT/build/npm STACK_FAST=1
export JWT_HS256_SECRET=e2e-secret-0123456789abcdef0123456789 JWT_ISSUER=e2e-issuer
export REDIS_PORT PG_PORT S3_PORT GATEWAY_PORT REGISTRY_PORT PROCESSOR_PORT RULES_PORT STORE_PORT OUTPUT_PORT
for v in REDIS_PORT PG_PORT S3_PORT GATEWAY_PORT REGISTRY_PORT PROCESSOR_PORT RULES_PORT STORE_PORT \
    OUTPUT_PORT; do
    printf -v "$v" '%s' "$(stack_free_port)"
done

FAILED=0
fail() {
    echo "$E2E_NAME: FAIL: $*" >&2
    FAILED=1
}

# On exit: stops every daemon (each must exit 0 on SIGTERM), looks for sanitizer reports in their
# logs, shows the logs' ends when something failed, and removes the scratch directory.
e2e_finish() {
    local rc=$FAILED
    if ! stack_stop_all; then
        fail "a daemon did not exit cleanly"
        rc=1
    fi
    for svc in "${STACK_SERVICES[@]}"; do
        if grep -q "ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:" \
            "$STACK_DIR/logs/$svc.log" 2>/dev/null; then
            echo "$E2E_NAME: sanitizer report in $svc:" >&2
            grep -A 30 "Sanitizer\|runtime error" "$STACK_DIR/logs/$svc.log" | head -60 >&2
            rc=1
        fi
    done
    if [ $rc -ne 0 ]; then
        for svc in "${STACK_SERVICES[@]}"; do
            echo "---- $svc (last lines)" >&2
            tail -n 15 "$STACK_DIR/logs/$svc.log" >&2
        done
    fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "$E2E_NAME: logs kept in $STACK_DIR/logs"
    else
        rm -rf "$STACK_DIR"
    fi
    [ $rc -eq 0 ] && echo "$E2E_NAME: passed" || echo "$E2E_NAME: FAILED"
    exit $rc
}
trap e2e_finish EXIT
trap 'exit 130' INT TERM

# Starts the servers and the six daemons and waits until all are ready (exits when they are not);
# sets TOKEN (a development token) and URL (the gateway's /events).
e2e_start() {
    stack_init
    stack_start_infra || { fail "infrastructure did not start"; exit 1; }
    stack_start_services
    stack_wait_ready 120 || { fail "services not ready"; exit 1; }
    TOKEN=$("$BUILD_DIR/bin/devtoken")
    URL="http://127.0.0.1:$GATEWAY_PORT/events"
}

sql() {
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d events -qAtX -c "$1"
}

wait_sql() { # wait_sql <seconds> <query> <expected>: 0 once the query gives it, else prints it
    local deadline=$((SECONDS + $1)) got
    while :; do
        got=$(sql "$2" 2>/dev/null)
        [ "$got" = "$3" ] && return 0
        ((SECONDS >= deadline)) && { echo "$got"; return 1; }
        sleep 0.2
    done
}

# wait_same <seconds> <expected-file> <got-file> <command...>: runs the command into got-file until
# it matches expected-file; 1 when it never did.
wait_same() {
    local deadline=$((SECONDS + $1)) want=$2 got=$3
    shift 3
    while :; do
        "$@" >"$got"
        cmp -s "$want" "$got" && return 0
        ((SECONDS >= deadline)) && return 1
        sleep 0.5
    done
}

# The shipped example pipeline (config/pipelines: events per type in 10 s windows, their distinct
# subjects): windows_expected <file of "id type window-start subject" lines> prints what its
# results must say, "type window-start count distinct-subjects" a line, sorted; windows_got
# <time> prints what derived_events holds of windows starting before that time, alike. A window
# given twice (two result ids) shows as two lines.
windows_expected() {
    awk '{ c[$2 " " $3]++; s[$2 " " $3 " " $4] = 1 }
         END { for (k in s) { split(k, f, " "); d[f[1] " " f[2]]++ }
               for (k in c) print k, c[k], d[k] }' "$1" | sort
}
windows_got() {
    sql "SELECT subject || ' ' || (data->>'window_start') || ' ' || (data->>'n') || ' ' ||
                (data->>'subjects')
         FROM derived_events WHERE type = 'pipeline.result' AND data->>'pipeline' = 'events-per-type'
         AND data->>'window_start' < '$1'" | sort
}
