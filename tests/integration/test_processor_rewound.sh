#!/usr/bin/env bash
# test_processor_rewound.sh <build-dir>: a broker replaced by an empty one (a development broker
# started again: `make run` after `make stop`) while a processor is down, its checkpoints kept in
# Redis and its definitions in PostgreSQL; started again, it stores a changed definition from
# PROCESSOR_PIPELINES_DIR (as `make run` does with config/pipelines), so two versions run. The
# old version drains the windows before the new one's cut-over and resumes from its checkpoint;
# the new one has none, so the partitions start from the group's offset (none on the new broker:
# the log's start). The old version's checkpointed position lies past the new log's end: it must not take
# the new log's first records for ones it holds already (it used to skip them, silently), but
# read them as new, with the rewind logged and counted on /readyz; its windows count the events
# read before the replacement and after it, each once.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_rewound.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor rewound" proc-rewound
jqe() { jq -e "$@" >/dev/null; }

S=$$
NAME=rw-$S IN=rw-in-$S OUT=rw-out-$S
start_broker() { # start_broker <name>: sets BROKERS and KAFKA_PID
    env DEVKAFKA_BOOTSTRAP_FILE="$work/$1.bootstrap" DEVKAFKA_PARTITIONS=2 LOG_LEVEL=warn \
        DEVKAFKA_TOPICS="$IN,$OUT,events.late,$NAME.repartition" "$BIN/devkafka" \
        >"$work/$1-kafka.log" 2>&1 </dev/null &
    KAFKA_PID=$!
    pids+=($KAFKA_PID)
    wait_until 10 "[ -s '$work/$1.bootstrap' ]" || failed "broker $1 did not start"
    BROKERS=$(cat "$work/$1.bootstrap")
}
PORT=$(stack_free_port)
U=http://127.0.0.1:$PORT
start_processor() { # start_processor <log> [pipelines dir]: sets PROC_PID
    PROCESSOR_PIPELINES_DIR=${2:-} PROCESSOR_AUTH_DISABLED=true PROCESSOR_PORT=$PORT BIND_ADDR=127.0.0.1 LOG_LEVEL=info \
        KAFKA_BROKERS="$BROKERS" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
        PROCESSOR_GROUP=rw-$S PROCESSOR_CHECKPOINT=200ms TOPIC_EVENTS=$IN TOPIC_LATE=events.late \
        KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500 \
        "$BIN/processor" >>"$work/$1" 2>&1 </dev/null &
    PROC_PID=$!
    pids+=($PROC_PID)
    stack_wait_port "$PORT" 20 || failed "the processor did not start ($1)"
}
def() { # def <description>: the pipeline's definition
    echo '{"name": "'$NAME'", "description": "'"$1"'", "source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "0s", "idle_timeout": "1s", "aggregates": {"n": "count()"}, "sink": {"topic": "'$OUT'"}}'
}
put() { # put <description>: a version of the pipeline
    local code
    code=$(curl -s -o "$work/put" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        -d "$(def "$1")" "$U/pipelines/$NAME")
    [[ "$code" == 20[01] ]] || failed "PUT $1: $code $(cat "$work/put")"
}
produce() { # produce <from> <to> <second>: events e<from>..e<to> of key k(i % 4) at 00:00:<second>
    for i in $(seq "$1" "$2"); do
        printf 'r%d\t{"specversion":"1.0","type":"t","source":"/rw","id":"e%d","time":"2026-01-01T00:00:%02dZ","data":{"k":"k%d"}}\n' \
            $((i % 3)) "$i" "$3" $((i % 4))
    done | kcat -P -b "$BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
}
windowed() {
    curl -s "$U/metrics" | awk -v p="$NAME" 'index($0, "processor_records_total{") == 1 &&
        index($0, "pipeline=\"" p "\"") && index($0, "outcome=\"windowed\"") { n += $2 }
        END { print n + 0 }'
}

start_broker A
start_processor p1.log
put first
wait_until 30 "grep -q '\"event\":\"kafka_assigned\"' '$work/p1.log'" || failed "p1: no partitions"
produce 1 40 3 # [00:00, 00:10): 10 events per key
wait_until 30 '[ "$(windowed)" -ge 40 ]' || failed "p1 windowed $(windowed) of 40 events"
sleep 1 # checkpoints after the last event (every 200 ms)
kill -TERM "$PROC_PID"
wait "$PROC_PID"
{
    kill -KILL "$KAFKA_PID"
    wait "$KAFKA_PID"
} 2>/dev/null
say "a new, empty broker replaces the first"
start_broker B
mkdir -p "$work/pipelines"
def second >"$work/pipelines/def.json" # stored at the start: the first version drains the
start_processor p2.log "$work/pipelines" # windows before the second's cut-over (today)
wait_until 30 "grep -q '\"event\":\"kafka_assigned\"' '$work/p2.log'" || failed "p2: no partitions"
check "two versions run ($(curl -s "$U/pipelines/$NAME" | jq -c '[.status.versions[] | [.version, .state]]'))" \
    jqe '.status.versions | length == 2' <(curl -s "$U/pipelines/$NAME")
produce 41 80 4  # the same window, read from the new broker's log
produce 81 84 15 # each key past it: the first version's watermark closes it
results() { kcat -C -b "$BROKERS" -t "$OUT" -e -q -f '%s\n' 2>/dev/null | grep -v '^$'; }
wait_until 60 '[ "$(results | jq -s "[.[] | select(.data.window_start == \"2026-01-01T00:00:00.000Z\")] | length")" -ge 4 ]'
results >"$work/results"
check "the first version's checkpoints were loaded" grep -q '"checkpoint_loaded".*:v1:' "$work/p2.log"
check "the rewind is logged, naming the repartition partition" \
    grep -q '"event":"log_rewound".*'"$NAME"'.repartition' "$work/p2.log"
check "and shown on /readyz ($(curl -s "$U/readyz" | jq -c .details.stream))" \
    jqe '.details.stream.log_rewinds >= 1' <(curl -s "$U/readyz")
check "each key's window counts its 20 events, read before and after the replacement ($(jq -c -s 'map(select(.data.window_start == "2026-01-01T00:00:00.000Z") | [.data.version, .data.key, .data.n])' "$work/results"))" \
    jqe -s '[.[] | select(.data.window_start == "2026-01-01T00:00:00.000Z")] as $w
        | ($w | map(.data.key) | unique | length) == 4 and ($w | all(.data.n == 20 and .data.version == 1))' \
    "$work/results"
[ "$fail" = 0 ] && say "ok"
exit "$fail"
