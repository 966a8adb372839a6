#!/usr/bin/env bash
# test_output_sink.sh <build-dir>: the output daemon against a PostgreSQL of the test's own.
# Records it cannot deliver go to the dead-letter topic, not lost and not blocking: a record that
# is not JSON and one whose row PostgreSQL refuses (a CHECK constraint a DBA added) are
# on the DLQ topic with their original value and headers naming the sink, the error, the attempts
# and where they came from, while the valid records around them are written, and counted in
# output_dlq_records_total. PostgreSQL killed with -9: the sink's circuit breaker opens
# (output_breaker_state 2) instead of hammering it, and after a restart it closes and every
# record produced meanwhile is written exactly once.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_output_sink.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
export STACK_DIR
STACK_DIR=$(mktemp -d /tmp/out-sink.XXXXXX)
chmod 755 "$STACK_DIR"
stack_init
PG_PORT=$(stack_free_port)
STACK_FAST=1
port=$(stack_free_port)
opid=
cleanup() {
    [ -n "$opid" ] && kill -TERM "$opid" 2>/dev/null && wait "$opid" 2>/dev/null
    stack_stop_all >/dev/null 2>&1
    rm -rf "$STACK_DIR"
}
trap cleanup EXIT
stack_start_pg || { echo "FAIL: postgres did not start"; exit 1; }
db="postgresql://postgres@127.0.0.1:$PG_PORT/events"
derived="out-derived-$$" alerts="out-alerts-$$" dlq="out-dlq-$$"
fail=0
event() { # event <id> [subject]
    printf '{"specversion":"1.0","id":"%s","source":"/out","type":"t","subject":"%s","time":"2026-01-01T00:00:00Z","data":{"n":1}}' \
        "$1" "${2:-s}"
}
OUTPUT_PORT=$port BIND_ADDR=127.0.0.1 LOG_LEVEL=warn KAFKA_BROKERS="$KAFKA_BROKERS" \
    DATABASE_URL="$db" TOPIC_DERIVED="$derived" TOPIC_ALERTS="$alerts" TOPIC_DLQ="$dlq" \
    OUTPUT_GROUP="out-$$" OUTPUT_BREAKER_FAILURES=2 OUTPUT_BREAKER_COOLDOWN=1s \
    KAFKA_FETCH_WAIT_MAX_MS=10 "$ROOT/$BUILD/bin/output" >"$STACK_DIR/output.log" 2>&1 </dev/null &
opid=$!
stack_wait_port "$port" 30 || { echo "FAIL: output did not start"; cat "$STACK_DIR/output.log"; exit 1; }
rows() { psql "$db" -qAtc 'SELECT count(*) FROM derived_events' 2>/dev/null; }
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
breaker() { metric 'output_breaker_state{sink="postgres"}'; }
dlq_read() { kcat -C -b "$KAFKA_BROKERS" -t "$dlq" -e -q -f '%k|%h|%s\n' 2>/dev/null; }
wait_for() { # wait_for <seconds> <shell condition>: until it holds (evaluated each time)
    local deadline=$((SECONDS + $1))
    until eval "$2"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}
# a constraint the sink's rows may break: PostgreSQL refuses such a row for its content
wait_for 20 '[ -n "$(rows)" ]' || { echo "FAIL: derived_events was not created"; exit 1; }
psql "$db" -qc "ALTER TABLE derived_events ADD CONSTRAINT no_poison CHECK (subject IS DISTINCT FROM 'poison')" ||
    { echo "FAIL: could not add the constraint"; exit 1; }
{
    echo "k1	$(event ok-1)"
    echo "k2	not json at all"
    echo "k3	$(event ok-2)"
    echo "k4	$(event bad-1 poison)"
    echo "k5	$(event ok-3)"
} | kcat -P -b "$KAFKA_BROKERS" -t "$derived" -p 0 -K $'\t' -H "ce_id=orig" 2>/dev/null
wait_for 30 '[ "$(rows)" = 3 ]' || { echo "FAIL: $(rows) rows written, 3 expected"; fail=1; }
ids=$(psql "$db" -qAtc "SELECT string_agg(id, ',' ORDER BY id) FROM derived_events" 2>/dev/null)
[ "$ids" = "ok-1,ok-2,ok-3" ] || { echo "FAIL: written rows: $ids"; fail=1; }
wait_for 20 '[ "$(dlq_read | wc -l)" = 2 ]' || { echo "FAIL: dead letters: $(dlq_read | wc -l), 2 expected"; fail=1; }
letters=$(dlq_read)
bad=$(grep '^k2|' <<<"$letters")
poison=$(grep '^k4|' <<<"$letters")
for h in "ce_id=orig" "dlq_sink=postgres" "dlq_error=not JSON" "dlq_attempts=1" "dlq_topic=$derived" \
    "dlq_partition=0" "dlq_offset=1"; do
    grep -qF "$h" <<<"$bad" || { echo "FAIL: the invalid record's dead letter lacks $h: $bad"; fail=1; }
done
grep -q '|not json at all$' <<<"$bad" || { echo "FAIL: the dead letter does not keep the value: $bad"; fail=1; }
for h in "dlq_error=postgres refused the row: [23514]" "no_poison" "dlq_attempts=2" "dlq_offset=3"; do
    grep -qF "$h" <<<"$poison" || { echo "FAIL: the refused row's dead letter lacks $h: $poison"; fail=1; }
done
grep -qF '"id":"bad-1"' <<<"$poison" || { echo "FAIL: the refused record's value is not kept: $poison"; fail=1; }
if [ "$(metric 'output_dlq_records_total{sink="postgres",reason="invalid"}')" != 1 ] ||
    [ "$(metric 'output_dlq_records_total{sink="postgres",reason="rejected"}')" != 1 ]; then
    echo "FAIL: output_dlq_records_total: $(curl -s "http://127.0.0.1:$port/metrics" | grep '^output_dlq')"
    fail=1
fi
[ "$(breaker)" = 0 ] || { echo "FAIL: the breaker is not closed ($(breaker))"; fail=1; }

# PostgreSQL down: the breaker opens; back up: it closes and the records of the outage arrive.
pgpid=$(stack_pid postgres)
{ kill -KILL "$pgpid"; wait "$pgpid"; } 2>/dev/null
for i in 4 5 6 7 8; do echo "k$i	$(event ok-$i)"; done |
    kcat -P -b "$KAFKA_BROKERS" -t "$derived" -p 0 -K $'\t' 2>/dev/null
wait_for 30 '[ "$(breaker)" = 2 ]' || { echo "FAIL: the breaker did not open while PostgreSQL was down"; fail=1; }
grep -q '"event":"breaker_open"' "$STACK_DIR/output.log" || { echo "FAIL: the breaker's opening is not logged"; fail=1; }
stack_start_pg || { echo "FAIL: postgres did not restart"; exit 1; }
wait_for 60 '[ "$(rows)" = 8 ]' || { echo "FAIL: $(rows) rows after PostgreSQL came back, 8 expected"; fail=1; }
wait_for 10 '[ "$(breaker)" = 0 ]' || { echo "FAIL: the breaker did not close again"; fail=1; }
[ "$(dlq_read | wc -l)" = 2 ] || { echo "FAIL: the outage sent records to the dead-letter topic"; fail=1; }
[ $fail = 0 ] && echo "output sink: ok (2 dead letters with their reasons, 3 rows around them; breaker opened while PostgreSQL was down, 5 records written after it came back)"
exit $fail
