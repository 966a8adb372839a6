# lib.sh: what the shell integration tests share (sourced after stack-lib.sh): it_init <label>
# <work-dir prefix> makes a scratch directory ($work), the list of daemons started ($pids, each
# sent TERM at exit) and the failure flag ($fail), and removes the directory at exit unless a
# check failed (then it is kept for the logs); say prints with the test's label, check runs a
# condition (one command) and records a failure naming it, failed records one; wait_until polls
# a condition until it holds or its time is up.
it_init() { # it_init <label> <prefix>
    IT_LABEL=$1
    work=$(mktemp -d "/tmp/$2.XXXXXX")
    pids=()
    fail=0
    trap it_cleanup EXIT
}
it_cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$fail" = 0 ]; then rm -rf "$work"; else echo "$IT_LABEL: logs kept in $work"; fi
}
say() { echo "$IT_LABEL: $*"; }
failed() { # failed <what>: records a failure naming it (`{ cond1 && cond2; } || failed <what>`:
    # check runs one command, so a compound condition is written so)
    say "FAIL: $1"
    fail=1
}
check() { # check <what> <condition...>
    local what=$1
    shift
    if "$@"; then :; else
        say "FAIL: $what"
        fail=1
    fi
}
wait_until() { # wait_until <seconds> '<condition>': polls it every 0.2 s; 0 when it held in time
    local end=$((SECONDS + $1))
    until eval "$2"; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.2
    done
}
# it_start_processor <log> <port> <tag>: a processor of group <tag>-$S on port <port> (logging to
# $work/<log>), its default input topic $IN and late events to <tag>-late-$S, checkpoints every
# 200 ms; returns once its port answers.
it_start_processor() {
    PROCESSOR_PORT=$2 BIND_ADDR=127.0.0.1 LOG_LEVEL=info PROCESSOR_GROUP=$3-$S \
        REDIS_URL="${IT_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}" PROCESSOR_CHECKPOINT=200ms \
        TOPIC_EVENTS=$IN TOPIC_LATE=$3-late-$S KAFKA_FETCH_WAIT_MAX_MS=10 \
        KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500 \
        "$BIN/processor" >>"$work/$1" 2>&1 </dev/null &
    pids+=($!)
    stack_wait_port "$2" 20 || { say "FAIL: processor on :$2 did not start"; fail=1; exit 1; }
}
