#!/usr/bin/env bash
# test_consumer_daemons.sh <build-dir>: the daemons that only consume (rules, store, output) start,
# stop and fail alike (cm_stream_serve):
#   - against the harness's broker and PostgreSQL each becomes ready (/readyz with the stream's
#     details) and exits 0 on SIGTERM, with no sanitizer report, while /readyz is asked without
#     pause (its checks read the stream, so the stream is freed only after the HTTP server
#     stopped; a race the old order lost only rarely);
#   - the store whose table PostgreSQL no longer has skips nothing: /readyz shows its batches
#     stuck (batches_flowing, batch_failing_since, batch_error) until the table is back, then the
#     records go in;
#   - store and output waiting for a PostgreSQL that is not up exit 0 on SIGTERM: a stop is not a
#     failure;
#   - a Kafka setting librdkafka does not know exits 78 naming it.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_consumer_daemons.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${KAFKA_BROKERS:?run through tests/integration/run.sh}" "${DATABASE_URL:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "consumer daemons" cons-d
S=$$

# start <daemon> <log> <port> [VAR=value...]: the daemon on <port>, its topics and group of its own
start() {
    local d=$1 log=$2 port=$3
    shift 3
    local up=${d^^}
    env "${up}_PORT=$port" BIND_ADDR=127.0.0.1 LOG_LEVEL=info KAFKA_BROKERS="$KAFKA_BROKERS" \
        KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500 \
        "${up}_GROUP=cd-$d-$S" TOPIC_EVENTS="cd-events-$S" TOPIC_DERIVED="cd-derived-$S" \
        TOPIC_ALERTS="cd-alerts-$S" TOPIC_DLQ="cd-dlq-$S" RULES_FILE="$ROOT/config/rules.json" \
        "$@" "$BIN/$d" >"$work/$log" 2>&1 </dev/null &
    last=$!
}
# stopped <pid> <seconds>: sends TERM, waits for the exit; its status in $rc (124: still running)
stopped() {
    kill -TERM "$1"
    local end=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1"
        wait "$1" 2>/dev/null
        rc=124
    else
        wait "$1"
        rc=$?
    fi
}

for d in rules store output; do
    port=$(stack_free_port)
    start "$d" "$d.log" "$port" DATABASE_URL="$DATABASE_URL"
    pid=$last
    pids+=("$pid")
    if ! wait_until 30 '[ "$(curl -s -o "$work/$d.ready" -w "%{http_code}" "http://127.0.0.1:$port/readyz")" = 200 ]'; then
        failed "$d: not ready within 30 s ($(cat "$work/$d.ready" 2>/dev/null))"
        continue
    fi
    check "$d: /readyz details the stream ($(cat "$work/$d.ready"))" \
        jq -e '.details.stream.records_lost == 0 and (.details.stream.lag | type) == "number"' "$work/$d.ready" >/dev/null
    # ask /readyz without pause through the stop
    (while kill -0 "$pid" 2>/dev/null; do
        curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/readyz"
    done) &
    asker=$!
    sleep 0.5
    stopped "$pid" 20
    wait "$asker"
    check "$d: SIGTERM exits 0 (got $rc)" [ "$rc" = 0 ]
    check "$d: no sanitizer report" bash -c "! grep -q 'Sanitizer' '$work/$d.log'"
    check "$d: logs that it stopped" grep -q '"event":"stopped"' "$work/$d.log"
done

# PostgreSQL refusing the store's batches for a reason that is not their rows' (its table gone):
# /readyz shows the stream's batches stuck, nothing is skipped, and the records go in once the
# table is back (before, each was logged as a rejected row and skipped)
port=$(stack_free_port)
start store store-refused.log "$port" DATABASE_URL="$DATABASE_URL"
pid=$last
pids+=("$pid")
ready() { [ "$(curl -s -o "$work/refused.ready" -w "%{http_code}" "http://127.0.0.1:$port/readyz")" = 200 ]; }
if wait_until 30 ready; then
    psql "$DATABASE_URL" -qc 'ALTER TABLE events RENAME TO events_away'
    for i in 1 2 3; do
        echo "{\"specversion\":\"1.0\",\"id\":\"refused-$S-$i\",\"type\":\"t\",\"source\":\"/cd\"}"
    done | kcat -P -b "$KAFKA_BROKERS" -t "cd-events-$S" 2>/dev/null
    wait_until 30 'ready && jq -e ".details.stream.batches_flowing == false" "$work/refused.ready" >/dev/null' ||
        failed "store: /readyz does not show its batches stuck ($(cat "$work/refused.ready"))"
    check "store: /readyz says since when and why ($(cat "$work/refused.ready"))" \
        jq -e '(.details.stream.batch_failing_since | type) == "string" and (.details.stream.batch_error | type) == "string"' "$work/refused.ready" >/dev/null
    check "store: the log names the refusal" grep -q '"event":"pg_batch_refused".*42P01' "$work/store-refused.log"
    check "store: no row skipped" bash -c "! grep -q pg_row_rejected '$work/store-refused.log'"
    psql "$DATABASE_URL" -qc 'ALTER TABLE events_away RENAME TO events'
    wait_until 30 '[ "$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM events WHERE id LIKE '"'refused-$S-%'"'")" = 3 ]' ||
        failed "store: the 3 records did not go in once the table was back"
    wait_until 10 'ready && jq -e ".details.stream.batches_flowing == true" "$work/refused.ready" >/dev/null' ||
        failed "store: /readyz still shows its batches stuck ($(cat "$work/refused.ready"))"
else
    failed "store: not ready within 30 s ($(cat "$work/refused.ready" 2>/dev/null))"
fi
stopped "$pid" 20
check "store: SIGTERM exits 0 after the refusals (got $rc)" [ "$rc" = 0 ]

# a PostgreSQL that is not up: store and output wait for it; a stop meanwhile is not a failure
dead=$(stack_free_port)
for d in store output; do
    start "$d" "$d-wait.log" "$(stack_free_port)" DATABASE_URL="postgresql://postgres@127.0.0.1:$dead/events?connect_timeout=1"
    pid=$last
    pids+=("$pid")
    sleep 2
    check "$d: waits for PostgreSQL ($(tail -n 2 "$work/$d-wait.log"))" kill -0 "$pid"
    stopped "$pid" 20
    check "$d: SIGTERM while waiting for PostgreSQL exits 0 (got $rc)" [ "$rc" = 0 ]
done

# a Kafka setting librdkafka does not know: exit 78 naming it, before serving
for d in rules store output; do
    start "$d" "$d-bad.log" "$(stack_free_port)" DATABASE_URL="$DATABASE_URL" KAFKA_NO_SUCH_SETTING=1
    pid=$last
    if wait_until 30 '! kill -0 '"$pid"' 2>/dev/null'; then
        wait "$pid"
        rc=$?
    else
        stopped "$pid" 5
    fi
    check "$d: an unknown Kafka setting exits 78 (got $rc)" [ "$rc" = 78 ]
    check "$d: the log names the setting ($(tail -n 1 "$work/$d-bad.log"))" \
        grep -qi 'no.such.setting' "$work/$d-bad.log"
done
[ "$fail" = 0 ] && say "ok"
exit "$fail"
