#!/usr/bin/env bash
# stack.sh: the local stack of `make run` and `make stop`.
#   scripts/stack.sh run    start devkafka, redis, PostgreSQL, s3rver and the six daemons in
#                           .stack/ (STACK_DIR), print the URLs, a development token and a curl
#                           example, stream every log prefixed by its service, and stop
#                           everything on Ctrl-C, SIGINT or SIGTERM (also without a terminal).
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
on_signal() {
    [ "$STOPPING" = 1 ] && return
    STOPPING=1
    echo
    stack_log "stopping"
    stack_stop_all
    local rc=$?
    sleep 1.2 # let the log stream print the last lines
    rm -f "$STACK_DIR/stack.pid"
    stack_log "stopped"
    exit $rc
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
            on_signal
        fi
    done
    stack_log "starting infrastructure in $STACK_DIR"
    stack_start_infra || on_signal
    stack_write_env
    stack_log "starting services"
    stack_start_services
    for svc in devkafka redis postgres s3rver "${STACK_SERVICES[@]}"; do
        touch "$STACK_DIR/logs/$svc.log"
    done
    # One tail over every log; its "==> file <==" headers become "[name] " prefixes. It ends by
    # itself when this script exits (--pid).
    tail -n +1 -F --pid=$$ "$STACK_DIR"/logs/*.log 2>/dev/null |
        awk '/^==> .* <==$/ { n = $2; sub(/.*\//, "", n); sub(/\.log$/, "", n); next }
             NF { print "[" n "] " $0; fflush() }' &
    if ! stack_wait_ready 90; then
        on_signal
    fi
    local token
    token=$("$BUILD_DIR/bin/devtoken")
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

 Development token (tenant "dev", 24 h):
   export TOKEN=$token

 Send an event:
   curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/events \\
     -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
     -d '{"type":"payment.created","source":"/shop","data":{"amount":42}}'
==============================================================================

EOF
    echo "TOKEN=$token" >>"$STACK_DIR/env"
    echo "ADMIN_TOKEN=$(DEVTOKEN_SCOPE='events:write gateway:admin processor:admin' "$BUILD_DIR/bin/devtoken")" \
        >>"$STACK_DIR/env"
    local parent=$PPID
    while :; do
        sleep 1 &
        wait $! 2>/dev/null
        if ! kill -0 "$parent" 2>/dev/null; then
            stack_log "the process that started the stack (pid $parent) is gone"
            on_signal
        fi
        for svc in "${STACK_SERVICES[@]}"; do
            if ! stack_alive "$svc"; then
                stack_log "$svc exited unexpectedly"
                on_signal
            fi
        done
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
