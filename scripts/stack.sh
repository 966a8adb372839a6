#!/usr/bin/env bash
# stack.sh: the local stack of `make run` and `make stop`.
#   scripts/stack.sh run    start devkafka, redis, PostgreSQL, s3rver and the six daemons in
#                           .stack/ (STACK_DIR), print the URLs, a development token and a curl
#                           example, stream every log prefixed by its service, restart a
#                           daemon that exits (with backoff, logging its exit status), and
#                           stop everything on Ctrl-C, SIGINT or SIGTERM (also without a
#                           terminal).
#   scripts/stack.sh stop   stop a running stack (from another shell).
# Ports come from the environment (defaults below), so two stacks can run side by side with
# different ports and STACK_DIR.
set -uo pipefail

# A shell started in the background by a non-interactive shell inherits SIGINT as ignored, and
# bash cannot trap a signal ignored at entry: restore the default so SIGINT stops the stack too.
if [ -z "${STACK_SIGNALS_RESET:-}" ] && [ -r /proc/$$/status ] &&
    (($(printf '%d' "0x$(awk '/^SigIgn:/ { print $2 }' /proc/$$/status)") & 2)); then
    export STACK_SIGNALS_RESET=1
    exec env --default-signal=INT bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/stack-lib.sh
. scripts/stack-lib.sh

export STACK_DIR=${STACK_DIR:-$ROOT/.stack}
export BUILD_DIR=${BUILD_DIR:-$ROOT/build}
export NPM_PREFIX=${NPM_PREFIX:-$STACK_DIR/npm}
export REDIS_PORT=${REDIS_PORT:-16379} PG_PORT=${PG_PORT:-15432} S3_PORT=${S3_PORT:-4568}
export GATEWAY_PORT=${GATEWAY_PORT:-8080} REGISTRY_PORT=${REGISTRY_PORT:-8081}
export PROCESSOR_PORT=${PROCESSOR_PORT:-8082} RULES_PORT=${RULES_PORT:-8083}
export STORE_PORT=${STORE_PORT:-8084} OUTPUT_PORT=${OUTPUT_PORT:-8085}
export S3_BUCKET=${S3_BUCKET:-events}
export JWT_HS256_SECRET=${JWT_HS256_SECRET:-dev-only-secret-change-me-0123456789abcdef}
export RULES_FILE=${RULES_FILE:-$ROOT/config/rules.json}
export PROCESSOR_PIPELINES_DIR=${PROCESSOR_PIPELINES_DIR:-$ROOT/config/pipelines}
export LOG_LEVEL=${LOG_LEVEL:-info}

cmd_stop() {
    local pid
    pid=$(cat "$STACK_DIR/stack.pid" 2>/dev/null) || pid=
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        echo "stack stopped"
    elif [ -d "$STACK_DIR/pids" ]; then
        stack_init
        stack_stop_all
        echo "stack stopped (its runner was gone; stopped what it had left)"
    else
        echo "no stack running in $STACK_DIR"
    fi
}

STOPPING=0
# Stops everything and exits: with 0 when asked to stop (a signal, `make stop`) and the stop went
# well; with `failed` (on_signal 1) when the stack cannot start or go on, so `make run` fails.
on_signal() {
    local failed=${1:-0}
    [ "$STOPPING" = 1 ] && return
    STOPPING=1
    echo
    stack_log "stopping"
    stack_stop_all
    local rc=$?
    sleep 1.2 # let the log stream print the last lines
    rm -f "$STACK_DIR/stack.pid"
    stack_log "stopped"
    exit $((failed ? failed : rc))
}

cmd_run() {
    stack_init
    if [ -f "$STACK_DIR/stack.pid" ] && kill -0 "$(cat "$STACK_DIR/stack.pid")" 2>/dev/null; then
        echo "a stack is already running from $STACK_DIR (make stop, or set STACK_DIR and ports)" >&2
        exit 1
    fi
    echo $$ >"$STACK_DIR/stack.pid"
    rm -f "$STACK_DIR"/logs/*.log
    trap on_signal INT TERM HUP
    for p in "$REDIS_PORT" "$PG_PORT" "$S3_PORT" "$GATEWAY_PORT" "$REGISTRY_PORT" \
        "$PROCESSOR_PORT" "$RULES_PORT" "$STORE_PORT" "$OUTPUT_PORT"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            stack_log "port $p is already in use; set the *_PORT variables to free ports"
            on_signal 1
        fi
    done
    stack_log "starting infrastructure in $STACK_DIR"
    stack_start_infra || on_signal 1
    stack_write_env
    stack_log "starting services"
    stack_start_services
    for svc in devkafka redis postgres s3rver "${STACK_SERVICES[@]}"; do
        touch "$STACK_DIR/logs/$svc.log"
    done
    # One tail over every log; its "==> file <==" headers become "[name] " prefixes. It ends by
    # itself when this script exits (--pid). mawk, Debian's awk, reads its input a block at a
    # time, so a line would wait for kilobytes more to follow it: -W interactive reads lines.
    # (Not `awk -W version | grep -q`: under pipefail, grep leaving early fails the pipeline when
    # awk's later writes meet a closed pipe, 4 times in 200 here, and the lines then came late.)
    local awk_lines=(awk)
    if [[ "$(awk -W version 2>&1)" == *mawk* ]]; then
        awk_lines=(awk -W interactive)
    fi
    tail -n +1 -F --pid=$$ "$STACK_DIR"/logs/*.log 2>/dev/null |
        "${awk_lines[@]}" '/^==> .* <==$/ { n = $2; sub(/.*\//, "", n); sub(/\.log$/, "", n); next }
             NF { print "[" n "] " $0; fflush() }' &
    if ! stack_wait_ready 90; then
        on_signal 1
    fi
    local token admin
    token=$(DEVTOKEN_SCOPE='events:write schema:read schema:write' "$BUILD_DIR/bin/devtoken")
    admin=$(DEVTOKEN_SCOPE='events:write gateway:admin processor:admin schema:admin' \
        "$BUILD_DIR/bin/devtoken")
    cat <<EOF

==============================================================================
 The stack is up (logs below, Ctrl-C or 'make stop' stops everything).
   gateway    http://127.0.0.1:$GATEWAY_PORT      registry  http://127.0.0.1:$REGISTRY_PORT
   processor  http://127.0.0.1:$PROCESSOR_PORT/metrics  rules     http://127.0.0.1:$RULES_PORT/metrics
   store      http://127.0.0.1:$STORE_PORT/metrics  output    http://127.0.0.1:$OUTPUT_PORT/metrics
   kafka      $KAFKA_BROKERS (devkafka)   redis $REDIS_URL
   postgres   $DATABASE_URL
   s3         $S3_ENDPOINT (bucket $S3_BUCKET)
 Addresses for psql, redis-cli and kcat: source $STACK_DIR/env

 Development token (tenant "dev", 24 h; may write registry subjects "dev.*"):
   export TOKEN=$token
 Admin token (every admin scope: the gateway's routes and keys, the processor's pipelines,
 the registry's schema:admin):
   export ADMIN_TOKEN=$admin
 Registry user (every schema scope; Confluent clients' basic.auth.user.info):
   export REGISTRY_USER_INFO=$REGISTRY_USER_INFO

 Send an event:
   curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/events \\
     -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
     -d '{"type":"payment.created","source":"/shop","data":{"amount":42}}'
==============================================================================

EOF
    echo "export TOKEN=$token" >>"$STACK_DIR/env"
    echo "export ADMIN_TOKEN=$admin" >>"$STACK_DIR/env"
    local parent=$PPID svc
    for svc in "${STACK_SERVICES[@]}"; do
        STARTED[$svc]=$SECONDS
    done
    while :; do
        sleep 1 &
        wait $! 2>/dev/null
        if ! kill -0 "$parent" 2>/dev/null; then
            stack_log "the process that started the stack (pid $parent) is gone"
            on_signal
        fi
        supervise
    done
}

# A daemon that exits is started again, as compose's restart policy would: after 1 s, doubling
# up to 30 s while it keeps failing (back to 1 s once it ran for a minute). The infrastructure
# cannot be replaced under the daemons (devkafka keeps its data in memory): if it goes, the
# stack stops.
declare -A STARTED BACKOFF RESTART_AT
supervise() {
    local svc pid status why
    for svc in devkafka redis postgres s3rver; do
        pid=$(stack_pid "$svc")
        if [ -n "$pid" ] && ! stack_running "$pid"; then
            stack_log "$svc (infrastructure) exited; the stack cannot go on without it"
            on_signal 1
        fi
    done
    for svc in "${STACK_SERVICES[@]}"; do
        if [ -n "${RESTART_AT[$svc]:-}" ]; then
            if ((SECONDS >= RESTART_AT[$svc])); then
                unset "RESTART_AT[$svc]"
                stack_spawn "$svc" "$BUILD_DIR/bin/$svc"
                STARTED[$svc]=$SECONDS
                stack_log "$svc restarted (pid $(stack_pid "$svc"))"
            fi
            continue
        fi
        pid=$(stack_pid "$svc")
        if [ -z "$pid" ] || stack_running "$pid"; then
            continue
        fi
        wait "$pid" 2>/dev/null
        status=$?
        why="exit status $status"
        if ((status > 128)); then
            why="killed by SIG$(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
        fi
        if ((SECONDS - ${STARTED[$svc]:-0} >= 60)) || [ -z "${BACKOFF[$svc]:-}" ]; then
            BACKOFF[$svc]=1
        else
            BACKOFF[$svc]=$((BACKOFF[$svc] * 2 > 30 ? 30 : BACKOFF[$svc] * 2))
        fi
        RESTART_AT[$svc]=$((SECONDS + BACKOFF[$svc]))
        stack_log "$svc exited ($why); restarting it in ${BACKOFF[$svc]} s (its log: $STACK_DIR/logs/$svc.log)"
    done
}

case "${1:-}" in
run) cmd_run ;;
stop) cmd_stop ;;
*)
    echo "usage: $0 run|stop" >&2
    exit 2
    ;;
esac
