#!/usr/bin/env bash
# test_processor_cluster.sh <build-dir>: the processor's window state on a Redis Cluster (the
# harness's three nodes; REDIS_URL names one of them), against the harness's development broker:
#   - checkpoints of a pipeline re-keyed through its repartition topic land on every node (each
#     partition's hash in the slot of its hash tag), and none fails;
#   - a processor killed with -9 and started again takes its windows back from them: each key's
#     window counts every event once, and a result repeated has the same id and value;
#   - the windows query reads a key's open window from the node that holds it;
#   - deleting the pipeline deletes its checkpoints on every node, also those of partitions no
#     instance holds (SCAN on each node).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_cluster.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${KAFKA_BROKERS:?}" "${REDIS_CLUSTER_URL:?}"
: "${REDIS_CLUSTER_PORTS:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor on a Redis Cluster" proc-cluster
jqe() { jq -e "$@" >/dev/null; }

export JWT_HS256_SECRET=cluster-test-secret-0123456789abcdef0123456789
ADMIN=$(DEVTOKEN_SCOPE='processor:admin' DEVTOKEN_TENANT=dev "$BIN/devtoken")
export IT_REDIS_URL=$REDIS_CLUSTER_URL
S=$$
IN=c-in-$S OUT=c-out-$S
# the name's four partition hashes {processor:cnt:0..3} hash to slots of all three nodes
NAME=cnt
P1=$(stack_free_port)
it_start_processor p1.log "$P1" c
U1=http://127.0.0.1:$P1
H="Authorization: Bearer $ADMIN"
code=$(curl -s -o "$work/put" -w '%{http_code}' -X PUT -H "$H" -H 'Content-Type: application/json' \
    -d '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "0s", "idle_timeout": "1s", "aggregates": {"n": "count()"}, "sink": {"topic": "'$OUT'"}}' \
    "$U1/pipelines/$NAME")
check "the pipeline is created ($code $(cat "$work/put"))" [ "$code" = 201 ]

# produce <from> <to> <second>: events e<from>..e<to>, key k(i % 8), at 2026-01-01T00:00:<second>
produce() {
    for i in $(seq "$1" "$2"); do
        printf 'k%d\t{"specversion":"1.0","type":"t","source":"/c","id":"e%d","time":"2026-01-01T00:00:%02dZ","tenant":"dev","data":{"k":"k%d"}}\n' \
            $((i % 8)) "$i" "$3" $((i % 8))
    done | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
}
keys_on() { redis-cli -p "$1" --scan --pattern "{processor:$NAME:*}:v*" 2>/dev/null | grep -c .; }
results() { kcat -C -b "$KAFKA_BROKERS" -t "$OUT" -e -q -f '%s\n' 2>/dev/null | grep -v '^$'; }
assigned() { # assigned <log>: waits until the processor holds its partitions
    for _ in $(seq 1 300); do
        grep -q '"event":"kafka_assigned"' "$work/$1" && return 0
        sleep 0.1
    done
    failed "$1: no partitions assigned within 30 s"
}

for _ in $(seq 1 100); do
    curl -s -H "$H" "$U1/pipelines/$NAME" | grep -q '"state":"running"' && break
    sleep 0.1
done
assigned p1.log
produce 1 80 3 # window [00:00, 00:10): 10 events per key
nodes=0
for _ in $(seq 1 100); do
    nodes=0
    for port in $REDIS_CLUSTER_PORTS; do
        [ "$(keys_on "$port")" -gt 0 ] && nodes=$((nodes + 1))
    done
    [ "$nodes" = 3 ] && break
    sleep 0.1
done
check "checkpoints on all three nodes ($nodes)" [ "$nodes" = 3 ]
check "no checkpoint failed" bash -c "! grep -q '\"checkpoint_failed\"' '$work/p1.log'"
sleep 0.5 # a checkpoint after the last event

kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
it_start_processor p2.log "$P1" c
for _ in $(seq 1 100); do
    curl -s -H "$H" "$U1/pipelines/$NAME" | grep -q '"state":"running"' && break
    sleep 0.1
done
assigned p2.log
produce 81 160 7 # the same window: 10 more per key, after the restart
produce 161 161 12 # k1 in [00:10, 00:20): passes the first window's end
for _ in $(seq 1 200); do
    [ "$(results | jq -s '[.[] | select(.data.window_start == "2026-01-01T00:00:00.000Z")] | map(.data.key) | unique | length')" = 8 ] && break
    sleep 0.1
done
results >"$work/results"
check "the checkpoints were loaded after the restart" grep -q '"checkpoint_loaded"' "$work/p2.log"
check "each key's first window counts its 20 events once ($(jq -c -s 'map(select(.data.window_start == "2026-01-01T00:00:00.000Z") | [.data.key, .data.n])' "$work/results"))" \
    jqe -s '[.[] | select(.data.window_start == "2026-01-01T00:00:00.000Z")] as $w
        | ($w | map(.data.key) | unique | length) == 8 and ($w | all(.data.n == 20))' "$work/results"
check "a result repeated has the same id and value" \
    jqe -s 'group_by(.id) | all(map(.data) | unique | length == 1)' "$work/results"

open='.windows | length == 1 and .[0].n == 1 and .[0].window_start == "2026-01-01T00:00:10.000Z"'
for _ in $(seq 1 50); do # (once a checkpoint holds it)
    r=$(curl -s -H "$H" "$U1/pipelines/$NAME/windows?key=k1")
    jqe "$open" <<<"$r" && break
    sleep 0.1
done
check "the windows query reads k1's open window from the cluster ($r)" jqe "$open" <<<"$r"
check "no checkpoint failed after the restart" bash -c "! grep -q '\"checkpoint_failed\"' '$work/p2.log'"

# a deleted pipeline's checkpoints go, on every node: those of the partitions it holds, and
# those of partitions no instance holds now (4 partitions here; 5, 6 and 7 hash to the three
# nodes), which only a SCAN of every node finds
for p in 5 6 7; do
    redis-cli -c -p "${REDIS_CLUSTER_PORTS%% *}" HSET "{processor:$NAME:$p}:v1" def x >/dev/null
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "$H" "$U1/pipelines/$NAME")
check "the pipeline is deleted ($code)" [ "$code" = 204 ]
left=1
for _ in $(seq 1 100); do
    left=0
    for port in $REDIS_CLUSTER_PORTS; do
        left=$((left + $(keys_on "$port")))
    done
    [ "$left" = 0 ] && break
    sleep 0.1
done
check "its checkpoints are gone from every node ($left left)" [ "$left" = 0 ]
check "and said so" grep -q '"checkpoints_dropped".*pipeline cnt: 3 checkpoints of versions before 2 deleted' "$work/p2.log"
[ "$fail" = 0 ] && say "ok"
exit "$fail"
