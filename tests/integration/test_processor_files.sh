#!/usr/bin/env bash
# test_processor_files.sh <build-dir>: a processor without a definitions store (no DATABASE_URL)
# runs the files of PROCESSOR_PIPELINES_DIR, each at the version the file gives (1 without one).
# A file changed without a new "version" keeps that version, so the checkpoints in Redis are of
# another definition: they must not be loaded. Here a 20 s tumbling count becomes a 10 s one;
# its checkpointed pane [0 s, 20 s) would pass for the new grid's [0 s, 10 s) and count the
# events of [10 s, 20 s) there. Instead the processor says so and recomputes from the offsets
# committed to Kafka, which never pass a record still held in window state: [0 s, 10 s) and
# [10 s, 20 s) each count their own two events. Run through tests/integration/run.sh (Redis and
# the development broker).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_files.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${KAFKA_BROKERS:?run through tests/integration/run.sh}" "${REDIS_PORT:?}"
work=$(mktemp -d /tmp/proc-files.XXXXXX)
pid=
fail=0
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    wait 2>/dev/null
    if [ "$fail" = 0 ]; then rm -rf "$work"; else echo "processor files: logs kept in $work"; fi
}
trap cleanup EXIT
say() { echo "processor files: $*"; }

S=$$
IN=files-in-$S OUT=files-out-$S NAME=files-$S
mkdir -p "$work/pipelines"
define() { # define <window size>
    cat >"$work/pipelines/def.json" <<JSON
{"name": "$NAME", "source": {"topics": ["$IN"]}, "key": "data.k",
 "window": {"type": "tumbling", "size": "$1"}, "out_of_orderness": "0s", "idle_timeout": "2s",
 "repartition": false, "aggregates": {"n": "count()"}, "sink": {"topic": "$OUT"}}
JSON
}
start() { # start <log>
    env -u DATABASE_URL PROCESSOR_AUTH_DISABLED=true PROCESSOR_PORT=0 BIND_ADDR=127.0.0.1 \
        LOG_LEVEL=info PROCESSOR_GROUP=files-$S REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
        PROCESSOR_PIPELINES_DIR="$work/pipelines" PROCESSOR_CHECKPOINT=200ms TOPIC_LATE=files-late-$S \
        KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500 \
        "$BIN/processor" >>"$work/$1" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 300); do
        grep -q '"event":"kafka_assigned"' "$work/$1" && return 0
        sleep 0.1
    done
    say "FAIL: the processor did not join its group ($1)"
    fail=1
}
produce() { # produce <second> ...: one event of key a at each second of 2026-01-01T00:00
    for sec in "$@"; do
        printf 'a\t{"specversion":"1.0","type":"t","source":"/f","id":"f%s","subject":"a","time":"2026-01-01T00:%02d:%02dZ","data":{"k":"a"}}\n' \
            "$sec" $((sec / 60)) $((sec % 60))
    done | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -p 0 -K $'\t' 2>>"$work/kcat.log"
}
ckey() { # the checkpoint's hash (the other partitions' hold only their owner's claim)
    local k
    for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern "{processor:$NAME:*}:v1"); do
        [ -n "$(redis-cli -p "$REDIS_PORT" HGET "$k" offset)" ] && { echo "$k"; return; }
    done
}

define 20s
# a file whose filter reads a field its map drops: loaded, and the log warns as a PUT would
cat >"$work/pipelines/warn.json" <<JSON
{"name": "warn-$S", "source": {"topics": ["$IN"]}, "steps": [{"map": {"k": "data.k"}},
 {"filter": "data.v > 0"}], "sink": {"topic": "warn-out-$S"}, "dead_letter": false}
JSON
produce 1 2 12 13 # (before the group subscribes: the topic exists, read from its start)
start p1.log
grep -q '"event":"pipeline_warning".*pipeline warn-'$S': steps\[1\].filter: reads data.v, which no event holds there' "$work/p1.log" ||
    { say "FAIL: the file reading a field its map drops is not warned about"; fail=1; }
for _ in $(seq 1 100); do # checkpointed: the four events in the pane [0 s, 20 s)
    k=$(ckey)
    [ -n "$k" ] && [ "$(redis-cli -p "$REDIS_PORT" HGET "$k" offset)" = 4 ] && break
    sleep 0.1
done
[ "$(redis-cli -p "$REDIS_PORT" HGET "$(ckey)" offset)" = 4 ] ||
    { say "FAIL: no checkpoint covering the four events"; fail=1; }
kill -TERM "$pid"
wait "$pid"
pid=
define 10s
start p2.log
produce 100
got=
for _ in $(seq 1 100); do
    got=$(kcat -C -b "$KAFKA_BROKERS" -t "$OUT" -o beginning -e -q 2>/dev/null |
        sed -E 's/.*"window_start":"2026-01-01T00:00:([0-9]+)\.000Z".*"n":([0-9]+).*/\1=\2/' | sort | tr '\n' ' ')
    [ "$got" = "00=2 10=2 " ] && break
    sleep 0.2
done
[ "$got" = "00=2 10=2 " ] ||
    { say "FAIL: results of the changed definition: ${got:-none} (want 00=2 10=2)"; fail=1; }
grep -q '"event":"checkpoint_other_definition"' "$work/p2.log" ||
    { say "FAIL: no warning names the checkpoint of another definition"; fail=1; }
if [ $fail != 0 ]; then
    grep -v '"level":"info"' "$work/p1.log" "$work/p2.log" | tail -n 20
fi
[ $fail = 0 ] && say "ok (a changed file's windows recomputed: $got)"
exit $fail
