#!/usr/bin/env bash
# test_processor_dedup.sh <build-dir>: a pipeline with "deduplicate" on the processor daemon,
# re-keyed through its repartition topic, against the harness's development broker and Redis.
# Events are written to Kafka twice, as a producer's retry or a gateway that died before it
# answered writes them (another record, the same source and id):
#   - each window counts every event once, with its first value (a repeat carries another);
#   - the repeats are dropped by the second stage, after the repartition topic (the first stage
#     sends each event's id with it), and counted in processor_records_total{outcome="duplicate"};
#   - a processor killed with -9 and started again takes the ids back from its checkpoints with
#     its windows: repeats of events it had read before the kill are dropped too;
#   - the ids are in the partitions' checkpoints in Redis: a key's few in its state, a hot key's
#     300 in blocks of fields of their own, each checkpoint writing the ids new since the one
#     before; after the kill its repeats are dropped too, the blocks read back.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_dedup.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${KAFKA_BROKERS:?}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor dedup" proc-dedup
jqe() { jq -e "$@" >/dev/null; }

export JWT_HS256_SECRET=dedup-test-secret-0123456789abcdef0123456789
ADMIN=$(DEVTOKEN_SCOPE='processor:admin' DEVTOKEN_TENANT=dev "$BIN/devtoken")
S=$$
IN=d-in-$S OUT=d-out-$S NAME=dedup-$S
PORT=$(stack_free_port)
U=http://127.0.0.1:$PORT
H="Authorization: Bearer $ADMIN"
it_start_processor p1.log "$PORT" d
code=$(curl -s -o "$work/put" -w '%{http_code}' -X PUT -H "$H" -H 'Content-Type: application/json' \
    -d '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "0s", "idle_timeout": "1s", "deduplicate": true, "aggregates": {"n": "count()", "s": "sum(data.v)"}, "sink": {"topic": "'$OUT'"}}' \
    "$U/pipelines/$NAME")
check "the pipeline is created ($code $(cat "$work/put"))" [ "$code" = 201 ]

# produce <from> <to> <second> <v>: events e<from>..e<to> of key k(i % 8), each of value v, at
# 2026-01-01T00:00:<second>; the record's Kafka key is not the pipeline's (it is re-keyed)
produce() {
    for i in $(seq "$1" "$2"); do
        printf 'r%d\t{"specversion":"1.0","type":"t","source":"/d","id":"e%d","time":"2026-01-01T00:00:%02dZ","tenant":"dev","data":{"k":"k%d","v":%d}}\n' \
            $((i % 5)) "$i" "$3" $((i % 8)) "$4"
    done | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
}
# produce_hot <from> <to> <second> <v>: events h<from>..h<to> of the key "hot"
produce_hot() {
    for i in $(seq "$1" "$2"); do
        printf 'r%d\t{"specversion":"1.0","type":"t","source":"/d","id":"h%d","time":"2026-01-01T00:00:%02dZ","tenant":"dev","data":{"k":"hot","v":%d}}\n' \
            $((i % 5)) "$i" "$3" "$4"
    done | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
}
hot_ids() { # the hot key's ids in the checkpoints
    for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern "{processor:$NAME:*}:v1"); do
        redis-cli -p "$REDIS_PORT" --raw HGETALL "$k"
    done | grep -o '\["\[\\"/d\\",\\"h[0-9]*\\"\]",[0-9]*\]' | wc -l
}
hot_fields() { # the names of the fields holding the hot key's state and ids
    for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern "{processor:$NAME:*}:v1"); do
        redis-cli -p "$REDIS_PORT" --raw HKEYS "$k"
    done | grep -a $':dev\x1fhot$' | cut -d: -f1 | sort | tr '\n' ' '
}
results() { kcat -C -b "$KAFKA_BROKERS" -t "$OUT" -e -q -f '%s\n' 2>/dev/null | grep -v '^$'; }
dups() { # the processor's count of repeats dropped
    curl -s "$U/metrics" | awk -v p="$NAME" '
        index($0, "processor_records_total{") == 1 && index($0, "pipeline=\"" p "\"") &&
        index($0, "outcome=\"duplicate\"") { n = $2 } END { print n + 0 }'
}
started() { # started <log>: the pipeline runs and holds its partitions
    wait_until 20 "curl -s -H '$H' '$U/pipelines/$NAME' | grep -q '\"state\":\"running\"'" &&
        wait_until 30 "grep -q '\"event\":\"kafka_assigned\"' '$work/$1'" ||
        failed "$1: the pipeline did not start or got no partitions"
}

started p1.log
produce 1 80 3 1 # window [00:00, 00:10): 10 events per key, of value 1
produce 1 40 4 100 # e1..e40 again (another time and value: still the same events)
wait_until 30 '[ "$(dups)" = 40 ]'
check "the first 40 repeats are dropped ($(dups))" [ "$(dups)" = 40 ]
sleep 0.6 # a checkpoint after the last of them (every 200 ms)
ids=0
for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern "{processor:$NAME:*}:v1"); do
    n=$(redis-cli -p "$REDIS_PORT" HGETALL "$k" | grep -o '\["\[\\"/d\\",\\"e[0-9]*\\"\]",[0-9]*\]' | wc -l)
    ids=$((ids + n))
done
check "the checkpoints hold the 80 events' ids ($ids)" [ "$ids" = 80 ]
# the hot key: 200 ids (past the 64 a key's state holds: block 0), then 50 and 50 more, each
# batch in Redis before the next, each in a block of its own
produce_hot 1 200 3 1
wait_until 30 '[ "$(hot_ids)" = 200 ]'
produce_hot 201 250 3 1
wait_until 30 '[ "$(hot_ids)" = 250 ]'
produce_hot 251 300 3 1
wait_until 30 '[ "$(hot_ids)" = 300 ]'
fields=$(hot_fields)
check "the checkpoints hold the hot key's 300 ids once each ($(hot_ids)), in blocks ($fields)" \
    bash -c "[ $(hot_ids) = 300 ] && [[ '$fields' == 'd0 d1 '*'k ' ]]"

kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
it_start_processor p2.log "$PORT" d
started p2.log
produce 41 80 5 100  # repeats of events read before the kill
produce 81 160 7 1   # 10 more per key
produce 81 100 8 100 # and repeats of some of those
produce_hot 1 300 6 100 # repeats of the hot key's events, read before the kill
produce 161 161 12 1 # k1 in [00:10, 00:20): passes the first window's end
wait_until 60 '[ "$(results | jq -s "[.[] | select(.data.window_start == \"2026-01-01T00:00:00.000Z\")] | map(.data.key) | unique | length")" = 9 ]'
results >"$work/results"
check "the checkpoints were loaded after the restart" grep -q '"checkpoint_loaded"' "$work/p2.log"
check "no checkpoint was refused" bash -c "! grep -q '\"checkpoint_\(invalid\|partial\)\"' '$work/p2.log'"
check "each key's window counts its 20 events once, the hot key's its 300, with their first values ($(jq -c -s 'map(select(.data.window_start == "2026-01-01T00:00:00.000Z") | [.data.key, .data.n, .data.s])' "$work/results"))" \
    jqe -s '[.[] | select(.data.window_start == "2026-01-01T00:00:00.000Z")] as $w
        | ($w | map(.data.key) | unique | length) == 9 and
          ($w | all(if .data.key == "hot" then .data.n == 300 and .data.s == 300
                    else .data.n == 20 and .data.s == 20 end))' \
    "$work/results"
check "a result repeated has the same id and value" \
    jqe -s 'group_by(.id) | all(map(.data) | unique | length == 1)' "$work/results"
wait_until 20 '[ "$(dups)" -ge 360 ]'
check "the restarted processor drops the 360 repeats it reads ($(dups))" [ "$(dups)" -ge 360 ]
check "no checkpoint failed" bash -c "! grep -q '\"checkpoint_failed\"' '$work/p1.log' '$work/p2.log'"
[ "$fail" = 0 ] && say "ok"
exit "$fail"
