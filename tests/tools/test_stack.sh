#!/usr/bin/env bash
# test_stack.sh <build-dir>: the local stack of `make run` (scripts/stack.sh) as a new user
# meets it, on free ports in a scratch STACK_DIR:
#   - README's "Try it" as printed, in a fresh shell: `. .stack/env`, then curl with $TOKEN
#     (202 and the id), psql finding the row and kcat the record: the file exports what it sets,
#     so the programs see it; the registry examples (the development user with -u, anonymous
#     refused, the token reading and writing dev.* subjects); the printed ADMIN_TOKEN takes the
#     admin APIs (pipelines, routes, the registry's mode);
#   - a daemon killed with -9 is restarted (its exit named in the log, 1 s later, then 2 s when it
#     fails again at once) and answers /readyz again, the others untouched; the daemons' log
#     lines reach the runner's output as they are written;
#   - `scripts/stack.sh stop` stops the runner (exit 0) and every process it started;
#   - with one of its ports taken, the runner names it and exits non-zero.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: test_stack.sh <build-dir>}
. scripts/stack-lib.sh

work=$(mktemp -d /tmp/stack-test.XXXXXX)
export STACK_DIR=$work/stack BUILD_DIR=$ROOT/$BUILD NPM_PREFIX=$ROOT/build/npm STACK_FAST=1
for v in REDIS_PORT PG_PORT S3_PORT GATEWAY_PORT REGISTRY_PORT PROCESSOR_PORT RULES_PORT STORE_PORT \
    OUTPUT_PORT; do
    printf -v "$v" '%s' "$(stack_free_port)"
    export "${v?}"
done
fail=0
say() { echo "stack: $*"; }
check() { # check <what> <condition...>
    local what=$1
    shift
    if ! "$@"; then
        say "FAIL: $what"
        fail=1
    fi
}
runner=
cleanup() {
    if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
        scripts/stack.sh stop >/dev/null 2>&1
    fi
    if [ $fail = 0 ]; then rm -rf "$work"; else say "output kept in $work"; fi
}
trap cleanup EXIT
log_has() { grep -q -- "$1" "$work/run.log"; }
wait_log() { # wait_log <text> <seconds>
    local deadline=$((SECONDS + $2))
    until log_has "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

scripts/stack.sh run >"$work/run.log" 2>&1 </dev/null &
runner=$!
if ! wait_log "The stack is up" 180; then
    say "FAIL: the stack did not come up; the end of its output:"
    tail -n 30 "$work/run.log"
    fail=1
    exit 1
fi

# ---- README's "Try it", as printed, in a fresh shell
env -i PATH="$PATH" HOME="$HOME" bash -c '
    set -u
    . "$1/env"
    curl -s -X POST "http://127.0.0.1:$GATEWAY_PORT/events" \
      -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
      -d "{\"type\":\"payment.created\",\"source\":\"/shop\",\"data\":{\"amount\":42}}"
' _ "$STACK_DIR" >"$work/post.json" 2>&1
id=$(jq -r '.id // empty' "$work/post.json" 2>/dev/null)
check "the README's curl with \$TOKEN from .stack/env is accepted ($(cat "$work/post.json"))" [ -n "$id" ]
rows=0
for _ in $(seq 1 50); do
    rows=$(env -i PATH="$PATH" HOME="$HOME" bash -c '. "$1/env" && psql -Atc "SELECT count(*) FROM events WHERE id = '\''$2'\''"' \
        _ "$STACK_DIR" "$id" 2>"$work/psql.err")
    [ "$rows" = 1 ] && break
    sleep 0.2
done
check "psql after '. .stack/env' finds the event's row (got '$rows': $(head -c 300 "$work/psql.err"))" [ "$rows" = 1 ]
records=$(env -i PATH="$PATH" HOME="$HOME" bash -c '. "$1/env" && kcat -b "$KAFKA_BROKERS" -C -t events -e -q' \
    _ "$STACK_DIR" 2>/dev/null | grep -c "$id")
check "kcat after '. .stack/env' reads the event from Kafka" [ "$records" -ge 1 ]
# the registry examples: the development user (Basic, as Confluent clients) and the token
# shellcheck disable=SC2016
registry='. "$1/env"
    curl -s -o /dev/null -w "%{http_code} " -X POST "$REGISTRY_URL/subjects/payment.created/versions" \
      -u "$REGISTRY_USER_INFO" -H "Content-Type: application/vnd.schemaregistry.v1+json" \
      -d "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"type\\\":\\\"object\\\"}\"}"
    curl -s -o /dev/null -w "%{http_code} " "$REGISTRY_URL/subjects"
    curl -s -o /dev/null -w "%{http_code} " "$REGISTRY_URL/subjects" -H "Authorization: Bearer $TOKEN"
    curl -s -o /dev/null -w "%{http_code}" -X POST "$REGISTRY_URL/subjects/dev.orders/versions" \
      -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/vnd.schemaregistry.v1+json" \
      -d "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"type\\\":\\\"object\\\"}\"}"'
codes=$(env -i PATH="$PATH" HOME="$HOME" bash -c "$registry" _ "$STACK_DIR" 2>&1)
check "registry: the user registers, anonymous is 401, the token reads and writes dev.* (got $codes)" \
    [ "$codes" = "200 401 200 200" ]

# the banner's ADMIN_TOKEN, copied as printed, lists the processor's pipelines and the gateway's
# routes, and the registry takes it (schema:admin covers reading its mode)
admin=$(sed -n 's/^ *export ADMIN_TOKEN=//p' "$work/run.log" | head -1)
codes=$(for u in "http://127.0.0.1:$PROCESSOR_PORT/pipelines" "http://127.0.0.1:$GATEWAY_PORT/routes" \
    "http://127.0.0.1:$REGISTRY_PORT/mode"; do
    curl -s -o /dev/null -w "%{http_code} " "$u" -H "Authorization: Bearer $admin"
done)
check "the printed ADMIN_TOKEN reads pipelines, routes and the registry's mode (got $codes)" \
    [ -n "$admin" ] && [ "$codes" = "200 200 200 " ]

# ---- a daemon killed with -9 is restarted, with backoff; the others are untouched
gateway_pid=$(stack_pid gateway)
rules_pid=$(stack_pid rules)
kill -KILL "$rules_pid"
check "the runner names the exit (killed by SIGKILL) and restarts in 1 s" \
    wait_log "rules exited (killed by SIGKILL); restarting it in 1 s" 10
check "rules is restarted" wait_log "rules restarted" 10
# the daemons' lines stream as they are written (not a block at a time: mawk buffers its input)
started=0
for _ in $(seq 1 50); do
    [ "$(grep -c '^\[rules\] .*"event":"started"' "$work/run.log")" -ge 2 ] && started=1 && break
    sleep 0.2
done
check "the restarted daemon's own start line reaches the runner's output at once" [ $started = 1 ]
new_pid=$(stack_pid rules)
check "rules runs again under a new pid ($rules_pid -> $new_pid)" \
    [ -n "$new_pid" ] && [ "$new_pid" != "$rules_pid" ] && kill -0 "$new_pid"
ready=0
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RULES_PORT/readyz")" = 200 ] && ready=1 && break
    sleep 0.2
done
check "the restarted rules daemon is ready" [ $ready = 1 ]
kill -KILL "$new_pid"
check "failing again at once, it waits twice as long" wait_log "restarting it in 2 s" 10
# (one command: check runs it, and bash would bind a second condition's && outside check)
check "the gateway kept running throughout" eval '[ "$(stack_pid gateway)" = "$gateway_pid" ] && kill -0 "$gateway_pid"'
check "the stack is still up" kill -0 "$runner"
for _ in $(seq 1 50); do # the second restart
    [ "$(grep -c "rules restarted" "$work/run.log")" -ge 2 ] && break
    sleep 0.2
done

# ---- make stop: the runner and everything it started are gone
pids=$(cat "$STACK_DIR"/pids/*.pid 2>/dev/null)
check "the stack has processes to stop" [ -n "$pids" ]
scripts/stack.sh stop >"$work/stop.log" 2>&1
check "stop reports the stack stopped ($(cat "$work/stop.log"))" grep -q "stack stopped" "$work/stop.log"
wait "$runner" 2>/dev/null
rc=$?
check "the runner asked to stop exits 0 (got $rc)" [ $rc = 0 ]
left=
for p in $pids; do
    stack_running "$p" && left="$left $p"
done
check "no process of the stack is left (${left:-none})" [ -z "$left" ]
# ---- a port in use: the runner says which, starts nothing and exits non-zero (make run fails)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("up", flush=True); time.sleep(60)' \
    "$PROCESSOR_PORT" >"$work/holder.out" 2>&1 &
holder=$!
for _ in $(seq 1 50); do
    grep -q up "$work/holder.out" && break
    sleep 0.1
done
timeout 60 scripts/stack.sh run >"$work/busy.log" 2>&1 </dev/null
rc=$?
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
check "with port $PROCESSOR_PORT taken the runner exits non-zero (got $rc)" eval '[ $rc != 0 ] && [ $rc != 124 ]'
check "and names the port ($(tail -n 3 "$work/busy.log" | tr '\n' ' '))" \
    grep -q "port $PROCESSOR_PORT is already in use" "$work/busy.log"
check "and leaves no process running" eval '[ -z "$(cat "$STACK_DIR"/pids/*.pid 2>/dev/null)" ] || ! kill -0 $(cat "$STACK_DIR"/pids/*.pid) 2>/dev/null'
[ $fail = 0 ] && say "ok (README example as printed, restart with backoff, stop, a port in use)"
exit $fail
