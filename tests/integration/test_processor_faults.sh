#!/usr/bin/env bash
# test_processor_faults.sh <build-dir>: the processor's results survive kill -9. The same keyed
# pipeline (1 s tumbling count, sum, distinct, first, last and topk, re-keyed through its
# repartition topic, state checkpointed to Redis) runs over the same 60,000 events (300 s of event time), each
# on its own development broker and redis-server (with an append-only file, as the stack runs it):
#   - reference: one processor, no faults;
#   - wiped: the processor and Redis killed with -9 together under load, Redis restarted without
#     its data: the processor finds no checkpoint and recomputes from the offsets committed to
#     Kafka, which never pass a record whose effect is not in a checkpoint. The commits' metadata
#     keeps each partition's event-time horizon: windows that had gone out whole before are not
#     emitted again from the part of their records that follows the committed offset (with an
#     out-of-orderness of 2 s, below the skew between the input partitions as they are read,
#     such records are common: before the horizon, ids came out again with partial counts);
#   - single: one processor, windows firing all along; it is killed with -9 while it works and
#     restarted (resuming from its checkpoints), then Redis is killed with -9 while it works and
#     restarted from its append-only file;
#   - pair: two processors in one group; one is killed with -9 while they work and the other takes
#     over its partitions from their checkpoints; it comes back and a rebalance hands partitions
#     back. While an instance is down its input partitions stall and the other's run ahead: the
#     watermarks that travel through the repartition topic per input partition hold the windows
#     open until the stalled partitions are taken over, so no event is late (docs/pipelines.md).
#   - paused: two processors; one is paused (SIGSTOP) under load past the group's session timeout
#     and the other takes its partitions over from their checkpoints; the paused one wakes up a
#     zombie and its checkpoint writes must be refused (fenced: `checkpoint_fenced`), not land on
#     the new owner's (which then told a lost write, or worse loaded a mix of both states); then
#     the new owner is killed (-9) and the zombie, back in the group, takes every partition over
#     from the checkpoints;
#   - wiped-one-stage and pair-one-stage: the same two with the pipeline read in one stage
#     ("repartition": false, the input keyed by the pipeline's key): a partition taken over goes
#     on from its checkpoint with its own watermark, although the survivor's partitions ran ahead
#     meanwhile (with one watermark over the instance, what it read again after the checkpoint
#     was late), and one recomputed is judged by its horizon;
#   - unavailable: the repartition topic's partition count cannot be read at first (the broker's
#     metadata for it fails): the processor prepares nothing, says so (in its log, in the
#     pipeline's status: missing_topics, and in processor_pipeline_topics_missing), and retries
#     the batch; once the topic is available it goes on, and the status no longer names it, nor
#     the gauge counts it (within the 10 s its topic list is kept); with the broker stopped, the
#     status says the topics are unknown.
#   - replaced: half the input processed, the processor stopped, the broker replaced by an empty
#     one while Redis keeps the checkpoints (as the local stack's every start does); the rest of
#     the input on the new broker is read as new although the checkpoints resume beyond its logs.
#   - sentinel: Redis behind Redis Sentinel (a master, its replica, a sentinel; REDIS_URL
#     redis-sentinel://...); under load the replica is stopped (SIGSTOP) and its link dropped for
#     2 s, so the checkpoints written meanwhile reach the master only, then the master is killed (-9) and
#     Sentinel promotes the replica without them: the processor follows the new master, tells that
#     Redis lost checkpoints (`checkpoint_lost`: they are numbered) and writes the next one whole.
# Every run must give the reference's results: each (key, window) once with the same id and
# values (a repeat only ever as an identical record), no event late; and the reference must hold
# exactly the (key, window) pairs and the event count of the input. FAULT_SCENARIOS="wiped pair"
# runs only those (with the reference), for debugging; FAULTS_KEEP=1 keeps the logs of a run that
# passed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_faults.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
work=$(mktemp -d /tmp/proc-faults.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$fail" = 0 ] && [ -z "${FAULTS_KEEP:-}" ]; then
        rm -rf "$work"
    else
        say "logs and outputs kept in $work"
    fi
}
fail=0
trap cleanup EXIT
say() { echo "processor faults: $*"; }

PIPE=pf$$
mkdir -p "$work/pipelines"
cat >"$work/pipelines/def.json" <<JSON
{"name": "$PIPE", "source": {"topics": ["in"]}, "key": "data.k",
 "window": {"type": "tumbling", "size": "1s"}, "out_of_orderness": "2s", "idle_timeout": "1h",
 "aggregates": {"n": "count()", "s": "sum(data.v)", "d": "distinct(subject)",
                "f": "first(data.v)", "l": "last(subject)", "t": "topk(data.v, 3)"},
 "sink": {"topic": "out"}}
JSON

# 60,000 events over 300 s of event time, 50 keys, record key = subject; then one far-future
# event per key (5 h later) into every input partition moves the watermark past every window
# (its own never fire);
# fetches of at most 16 KiB per partition keep the partitions' consumption interleaved (with
# librdkafka's 1 MiB default, one partition's fetch alone spans 160 s of this input's event time).
N=60000
awk -v n=$N 'BEGIN {
    for (i = 0; i < n; i++) {
        t = 1767225600000 + i * 5; s = int(t / 1000); ms = t % 1000
        printf "u%d\t{\"type\":\"t\",\"source\":\"/pf\",\"id\":\"e%d\",\"subject\":\"u%d\",\"time\":\"%s.%03dZ\",\"data\":{\"k\":\"k%d\",\"v\":%d}}\n",
            i % 97, i, i % 97, strftime("%Y-%m-%dT%H:%M:%S", s, 1), ms, (i * 7919) % 50, i % 13
    }
    for (k = 0; k < 50; k++)
        printf "z\t{\"type\":\"t\",\"source\":\"/pf\",\"id\":\"z%d\",\"subject\":\"z\",\"time\":\"2026-01-01T05:00:00Z\",\"data\":{\"k\":\"k%d\",\"v\":0}}\n", k, k
}' >"$work/input.tsv"
# expected (key, window) pairs and their counts, the far-future ones left out
awk -F'\t' '$1 != "z" { match($2, /"time":"[^"]*"/); w = substr($2, RSTART + 8, 19);
    match($2, /"k":"k[0-9]+"/); k = substr($2, RSTART + 5, RLENGTH - 6); c[k " " w]++ }
    END { for (x in c) print x, c[x] }' "$work/input.tsv" | sort >"$work/expected"
EXPECTED=$(wc -l <"$work/expected")
[ "$EXPECTED" -gt 1000 ] || { say "FAIL: the test's input is wrong ($EXPECTED windows)"; exit 1; }

start_broker() { # start_broker <name> [unavailable topics]: sets BROKERS_<name> and KAFKA_PID
    env DEVKAFKA_BOOTSTRAP_FILE="$work/$1.bootstrap" DEVKAFKA_PARTITIONS=8 \
        DEVKAFKA_TOPICS="in,out,events.late,$PIPE.repartition" LOG_LEVEL=warn \
        DEVKAFKA_UNAVAILABLE_TOPICS="${2:-}" "$BIN/devkafka" >"$work/$1-kafka.log" 2>&1 </dev/null &
    KAFKA_PID=$!
    pids+=($KAFKA_PID)
    for _ in $(seq 1 100); do [ -s "$work/$1.bootstrap" ] && break; sleep 0.1; done
    printf -v "BROKERS_$1" '%s' "$(cat "$work/$1.bootstrap")"
}
start_redis() { # start_redis <name> <port> [more arguments]: with an append-only file, as the
    # local stack runs it
    mkdir -p "$work/$1-redis"
    redis-server --bind 127.0.0.1 --port "$2" --dir "$work/$1-redis" --save "" --appendonly yes \
        --appendfsync always --daemonize no "${@:3}" >>"$work/$1-redis.log" 2>&1 </dev/null &
    REDIS_PID=$!
    pids+=($REDIS_PID)
    stack_wait_port "$2" 20
}
start_processor() { # start_processor <log> <brokers> <redis port, or URL>: sets PROC_PID
    local url="redis://127.0.0.1:$3/0"
    [[ "$3" == *://* ]] && url=$3
    env -u DATABASE_URL PROCESSOR_AUTH_DISABLED=true \
        PROCESSOR_PORT="${PROC_PORT:-0}" BIND_ADDR=127.0.0.1 LOG_LEVEL=info KAFKA_BROKERS="$2" \
        REDIS_URL="$url" PROCESSOR_PIPELINES_DIR="$work/${PIPES:-pipelines}" \
        PROCESSOR_CHECKPOINT=500ms KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_SESSION_TIMEOUT_MS=6000 \
        KAFKA_HEARTBEAT_INTERVAL_MS=500 KAFKA_MAX_PARTITION_FETCH_BYTES=16384 \
        "$BIN/processor" >>"$work/$1" 2>&1 </dev/null &
    PROC_PID=$!
    pids+=($PROC_PID)
}
produce() { # produce <brokers> <from line> <to line> (of $INPUT, input.tsv by default)
    sed -n "$2,$3p" "$work/${INPUT:-input.tsv}" | kcat -P -b "$1" -t in -K $'\t' -z lz4 -X batch.size=16384 2>>"$work/kcat.log"
}
produce_far() { # produce_far <brokers>: the far-future events into every input partition, so
    # every partition's watermark passes every window (watermarks travel per input partition)
    for p in 0 1 2 3 4 5 6 7; do
        sed -n "$((N + 1)),$((N + 50))p" "$work/${INPUT:-input.tsv}" |
            kcat -P -b "$1" -t in -p "$p" -K $'\t' 2>>"$work/kcat.log"
    done
}
results() { # results <brokers> <file>: every record of `out`
    kcat -C -b "$1" -t out -o beginning -e -q -f '%s\n' 2>>"$work/kcat.log" >"$2"
}
# The distinct origins (input partition, offset, index) of the events on the repartition topic:
# read from its frames (docs/pipelines.md).
prepared_count() { # prepared_count <brokers>
    kcat -C -b "$1" -t "$PIPE.repartition" -o beginning -e -q -f '%h\n%R%s' 2>>"$work/kcat.log" |
        python3 -c '
import struct, sys
data, pos, seen = sys.stdin.buffer.read(), 0, set()
while pos < len(data):
    nl = data.index(b"\n", pos)
    headers = dict(h.split("=", 1) for h in data[pos:nl].decode().split(",") if "=" in h)
    (n,) = struct.unpack(">i", data[nl + 1:nl + 5])
    value, pos = data[nl + 5:nl + 5 + max(n, 0)], nl + 5 + max(n, 0)
    if headers.get("kind") == "frame":
        q, ints = 1, 40 if value[0] == 2 else 32 # version 2 adds the watermark before the event
        while q < len(value):
            seen.add(struct.unpack(">IQI", value[q:q + 16]))
            q += ints
            for _ in range(5): # tenant, key, traceparent, args, event
                (l,) = struct.unpack(">I", value[q:q + 4])
                q += 4 if l == 0xFFFFFFFF else 4 + l + 1
print(len(seen))'
}
# Waits until every input event went through the first stage (its origin is on the repartition
# topic), so the far-future events that close the windows come after all others.
wait_prepared() { # wait_prepared <brokers> <seconds> [events, default N]
    local deadline=$((SECONDS + $2)) got=0 want=${3:-$N}
    while ((SECONDS < deadline)); do
        got=$(prepared_count "$1")
        [ "$got" -ge "$want" ] && return 0
        sleep 1
    done
    say "only $got of $want events prepared after $2 s"
    return 1
}
wait_results() { # wait_results <brokers> <file> <seconds>: until every window has a result
    local deadline=$((SECONDS + $3)) got=0
    while ((SECONDS < deadline)); do
        results "$1" "$2"
        got=$(grep -o '"id":"[^"]*"' "$2" | sort -u | wc -l)
        [ "$got" -ge "$EXPECTED" ] && return 0
        sleep 1
    done
    say "only $got of $EXPECTED results after $3 s"
    return 1
}

# --- reference
start_broker A
rport_a=$(stack_free_port)
start_redis A "$rport_a"
start_processor ref.log "$BROKERS_A" "$rport_a"
ref_pid=$PROC_PID
produce "$BROKERS_A" 1 $N
wait_prepared "$BROKERS_A" 120 || fail=1
produce_far "$BROKERS_A"
wait_results "$BROKERS_A" "$work/ref.out" 180 || fail=1
kill -TERM $ref_pid; wait $ref_pid
[ $? = 0 ] || { say "FAIL: the reference processor did not exit 0"; fail=1; }
sort -u "$work/ref.out" >"$work/ref.sorted"
grep -o '"data":{"pipeline":"[^"]*","version":[0-9]*,"key":"[^"]*","window_start":"[^"]*"' "$work/ref.sorted" |
    sed -E 's/.*"key":"([^"]*)","window_start":"([^.]*)\..*/\1 \2/' | sort >"$work/ref.windows"
awk '{ print $1, $2 }' "$work/expected" | cmp -s - "$work/ref.windows" ||
    { say "FAIL: the reference results are not one per (key, window) of the input"; fail=1; }
total=$(grep -o '"n":[0-9]*' "$work/ref.sorted" | cut -d: -f2 | awk '{ s += $1 } END { print s }')
[ "$total" = "$N" ] || { say "FAIL: the reference counted $total events, not $N"; fail=1; }
# every result holds first and last values and a top 3 (kept in the checkpoints the faults below
# restore)
firsts=$(grep -c '"f":[0-9]*,"l":"u[0-9]*","t":\[[0-9]' "$work/ref.sorted")
[ "$firsts" = "$EXPECTED" ] || { say "FAIL: $firsts of $EXPECTED results hold first, last and topk"; fail=1; }
# a repartition partition's checkpoint holds its own watermark and the latest report of each of the
# 8 input partitions, so what it reads again after the checkpoint is judged as the first time
ckey=$(for k in $(redis-cli -p "$rport_a" --scan --pattern "{processor:$PIPE:*}:v1"); do
    [ -n "$(redis-cli -p "$rport_a" HGET "$k" offset)" ] && echo "$k"; done | head -n 1)
creports=$(redis-cli -p "$rport_a" HKEYS "$ckey" | grep -c '^r:')
cswm=$(redis-cli -p "$rport_a" HGET "$ckey" swm)
[ -n "$ckey" ] && [ "$creports" = 8 ] && [ "${cswm:-0}" -gt 1767225600000 ] ||
    { say "FAIL: checkpoint ${ckey:-none}: $creports reports, watermark ${cswm:-none}"; fail=1; }

compare() { # compare <name> <brokers>: the run's results equal the reference's
    local out=$work/$1.out
    sort -u "$out" >"$work/$1.sorted"
    local ids
    ids=$(grep -o '"id":"[^"]*"' "$work/$1.sorted" | sort -u | wc -l)
    [ "$ids" = "$(wc -l <"$work/$1.sorted")" ] ||
        { say "FAIL: $1: an id appears with different values"; fail=1; }
    if ! cmp -s "$work/ref.sorted" "$work/$1.sorted"; then
        say "FAIL: $1: results differ from the fault-free run:"
        diff "$work/ref.sorted" "$work/$1.sorted" | head -4 | cut -c1-300
        fail=1
    fi
    local late
    late=$(kcat -C -b "$2" -t events.late -o beginning -e -q 2>/dev/null | wc -l)
    [ "$late" = 0 ] || { say "FAIL: $1: $late late events"; fail=1; }
    say "$1: $(wc -l <"$out") records, $ids distinct results, $late late"
}
wait_assigned() { # wait_assigned <log>...
    for _ in $(seq 1 300); do
        local all=1 f
        for f in "$@"; do grep -q '"event":"kafka_assigned"' "$work/$f" || all=0; done
        [ $all = 1 ] && return 0
        sleep 0.1
    done
}

wanted() { # wanted <scenario>: FAULT_SCENARIOS (space-separated) limits the runs, for debugging
    [ -z "${FAULT_SCENARIOS:-}" ] || [[ " $FAULT_SCENARIOS " == *" $1 "* ]]
}

# --- Redis comes back empty: the processor and Redis killed with -9 together under load, Redis
# restarted without its data; the processor recomputes from the offsets committed to Kafka
run_wiped() { # run_wiped <scenario> <broker name>
    local b=$2 rport redis_x p1 producer brokers
    start_broker "$b"
    brokers=BROKERS_$b
    brokers=${!brokers}
    rport=$(stack_free_port)
    start_redis "$b" "$rport"
    redis_x=$REDIS_PID
    start_processor "$1-1.log" "$brokers" "$rport"
    p1=$PROC_PID
    wait_assigned "$1-1.log"
    produce "$brokers" 1 20000
    sleep 2
    produce "$brokers" 20001 36000 &
    producer=$!
    sleep 1
    kill -KILL "$p1" "$redis_x"
    wait "$redis_x" 2>/dev/null
    rm -rf "$work/$b-redis"
    say "$1: killed the processor and redis (-9) under load; redis restarts empty"
    start_redis "$b" "$rport"
    wait $producer
    start_processor "$1-2.log" "$brokers" "$rport"
    wait_assigned "$1-2.log"
    produce "$brokers" 36001 $N
    [ "${PIPES:-}" ] || wait_prepared "$brokers" 180 || fail=1
    produce_far "$brokers" # (one stage: each partition's far-future events come last in its log)
    wait_results "$brokers" "$work/$1.out" 240 || fail=1
    grep -q '"event":"horizon_restored"' "$work/$1-2.log" ||
        { say "FAIL: $1: no partition took its horizon from the committed offset's metadata"; fail=1; }
    compare "$1" "$brokers"
}

# Starts broker, Redis and two processors in one group (logs <scenario>-1.log and -2.log), feeds
# them, and leaves more input being produced: sets BROKERS, PAIR_REDIS (its port), P1, P2 and
# PRODUCER.
pair_start() { # pair_start <scenario> <broker name>
    local rport brokers
    start_broker "$2"
    brokers=BROKERS_$2
    BROKERS=${!brokers}
    rport=$(stack_free_port)
    start_redis "$2" "$rport"
    start_processor "$1-1.log" "$BROKERS" "$rport"
    P1=$PROC_PID
    start_processor "$1-2.log" "$BROKERS" "$rport"
    P2=$PROC_PID
    wait_assigned "$1-1.log" "$1-2.log"
    produce "$BROKERS" 1 20000
    sleep 2
    produce "$BROKERS" 20001 40000 &
    PRODUCER=$!
    sleep 1
    PAIR_REDIS=$rport
}
# With processor 1 gone (or stalled): more input, then processor 2 takes its partitions over after
# the session timeout.
pair_takeover() { # pair_takeover <scenario>
    wait $PRODUCER
    produce "$BROKERS" 40001 50000 # (50 s more of event time while it is down)
    for _ in $(seq 1 200); do
        [ "$(grep -c '"event":"checkpoint_loaded"' "$work/$1-2.log")" -gt 0 ] && break
        sleep 0.1
    done
}
# The rest of the input, the far-future events, and every window's result.
pair_finish() { # pair_finish <scenario>
    produce "$BROKERS" 50001 $N
    [ "${PIPES:-}" ] || wait_prepared "$BROKERS" 180 || fail=1
    produce_far "$BROKERS"
    wait_results "$BROKERS" "$work/$1.out" 240 || fail=1
}
# --- two instances sharing the partitions: one killed under load, the other takes over its
# partitions from their checkpoints (after more input came meanwhile: its own partitions ran
# ahead of the stalled ones); it comes back and a rebalance hands partitions back
run_pair() { # run_pair <scenario> <broker name>
    pair_start "$1" "$2"
    kill -KILL "$P1"
    say "$1: killed processor 1 of 2 (-9) under load"
    pair_takeover "$1"
    start_processor "$1-1b.log" "$BROKERS" "$PAIR_REDIS"
    wait_assigned "$1-1b.log"
    pair_finish "$1"
    grep -q '"event":"checkpoint_loaded"' "$work/$1-2.log" ||
        { say "FAIL: $1: the surviving processor did not take over from checkpoints"; fail=1; }
    compare "$1" "$BROKERS"
}

wanted wiped && run_wiped wiped D
# --- two instances, one paused (SIGSTOP, a frozen VM, a long GC) past the session timeout: the
# other takes its partitions over from their checkpoints and goes on; the paused one wakes up a
# zombie, its partitions lost, and must not write its stale state over the new owner's
# checkpoints. Then the new owner is killed (-9): the zombie, back in the group, takes every
# partition over from the checkpoints in Redis
run_paused() { # run_paused <scenario> <broker name>
    pair_start "$1" "$2"
    kill -STOP "$P1"
    say "$1: paused processor 1 of 2 (SIGSTOP) under load"
    pair_takeover "$1"
    sleep 2 # processor 2 checkpoints what it took over
    kill -CONT "$P1"
    say "$1: processor 1 resumed (SIGCONT), its partitions lost meanwhile"
    for _ in $(seq 1 100); do
        [ "$(grep -c '"event":"kafka_revoked"' "$work/$1-1.log")" -gt 0 ] && break
        sleep 0.1
    done
    sleep 1
    kill -KILL "$P2"
    say "$1: killed processor 2 (-9); processor 1 takes every partition over"
    pair_finish "$1"
    grep -q '"event":"checkpoint_fenced"' "$work/$1-1.log" ||
        { say "FAIL: $1: the paused processor's writes were not refused"; fail=1; }
    ! grep -q '"event":"checkpoint_lost"' "$work/$1-2.log" ||
        { say "FAIL: $1: the paused processor wrote over the new owner's checkpoints"; fail=1; }
    local loaded # of the 8 partitions, after it woke up (its first revoke)
    loaded=$(awk '/"event":"kafka_revoked"/ { r = 1 } r && /"event":"checkpoint_loaded"/ { n++ }
        END { print n + 0 }' "$work/$1-1.log")
    [ "$loaded" -ge 8 ] ||
        { say "FAIL: $1: the paused processor took $loaded partitions over from checkpoints, not 8"; fail=1; }
    compare "$1" "$BROKERS"
}
wanted paused && run_paused paused P

# --- one instance, windows firing throughout: kill -9 under load, then Redis kill -9 under load
if wanted single; then
start_broker B
rport_b=$(stack_free_port)
start_redis B "$rport_b"
redis_b=$REDIS_PID
start_processor b1.log "$BROKERS_B" "$rport_b"
b1=$PROC_PID
wait_assigned b1.log
produce "$BROKERS_B" 1 20000
sleep 2
produce "$BROKERS_B" 20001 36000 &
producer=$!
sleep 1
kill -KILL $b1
results "$BROKERS_B" "$work/b-before.out"
say "killed the processor (-9) under load, $(wc -l <"$work/b-before.out") results so far"
wait $producer
start_processor b2.log "$BROKERS_B" "$rport_b"
wait_assigned b2.log
produce "$BROKERS_B" 36001 48000 &
producer=$!
sleep 1
kill -KILL $redis_b
wait $redis_b 2>/dev/null
say "killed redis (-9) under load, restarting it from its append-only file"
start_redis B "$rport_b"
wait $producer
produce "$BROKERS_B" 48001 $N
wait_prepared "$BROKERS_B" 180 || fail=1
produce_far "$BROKERS_B"
wait_results "$BROKERS_B" "$work/single.out" 240 || fail=1
grep -q '"event":"checkpoint_loaded"' "$work/b2.log" ||
    { say "FAIL: the restarted processor did not resume from a checkpoint"; fail=1; }
compare single "$BROKERS_B"
fi

wanted pair && run_pair pair C
# the same two, the pipeline read in one stage: its input keyed by the pipeline's key (the
# far-future events still go to every partition), so each key's windows live in one partition
if wanted wiped-one-stage || wanted pair-one-stage; then
    mkdir -p "$work/pipelines1"
    sed 's/"sink":/"repartition": false, "sink":/' "$work/pipelines/def.json" >"$work/pipelines1/def.json"
    awk -F'\t' '{ match($2, /"k":"k[0-9]+"/); print substr($2, RSTART + 5, RLENGTH - 6) "\t" $2 }' \
        "$work/input.tsv" >"$work/input-k.tsv"
    PIPES=pipelines1 INPUT=input-k.tsv
    wanted wiped-one-stage && run_wiped wiped-one-stage H
    wanted pair-one-stage && run_pair pair-one-stage I
    PIPES= INPUT=
fi
# --- the repartition topic unavailable at first: nothing is prepared (a frame needs the partition
# of its key) until its partition count can be read; then the run goes on to the same results
if wanted unavailable; then
start_broker E "$PIPE.repartition"
rport_e=$(stack_free_port)
start_redis E "$rport_e"
pport_e=$(stack_free_port)
PROC_PORT=$pport_e start_processor e1.log "$BROKERS_E" "$rport_e"
produce "$BROKERS_E" 1 20000
for _ in $(seq 1 600); do
    grep -q '"event":"repartition_topic_unavailable"' "$work/e1.log" && break
    sleep 0.1
done
grep -q '"event":"repartition_topic_unavailable".*'"$PIPE"'.repartition' "$work/e1.log" ||
    { say "FAIL: unavailable: no error names the repartition topic"; fail=1; }
missing() { curl -s "http://127.0.0.1:$pport_e/pipelines/$PIPE" | jq -c '.status.missing_topics'; }
[ "$(missing)" = "[\"$PIPE.repartition\"]" ] ||
    { say "FAIL: unavailable: the pipeline's status does not name its missing topic ($(missing))"; fail=1; }
gauge() { curl -s "http://127.0.0.1:$pport_e/metrics" | sed -n "s/^processor_pipeline_topics_missing{pipeline=\"$PIPE\"} //p"; }
[ "$(gauge)" = 1 ] ||
    { say "FAIL: unavailable: processor_pipeline_topics_missing is '$(gauge)', not 1"; fail=1; }
results "$BROKERS_E" "$work/e-before.out"
[ ! -s "$work/e-before.out" ] || { say "FAIL: unavailable: results before the topic is"; fail=1; }
kill -HUP "$KAFKA_PID"
say "unavailable: the processor waited for the repartition topic ($(grep -c '"event":"batch_retry"' "$work/e1.log") batch retries); now it is available"
for _ in $(seq 1 200); do [ "$(missing)" = null ] && break; sleep 0.1; done
[ "$(missing)" = null ] || { say "FAIL: unavailable: the status still names a topic that exists ($(missing))"; fail=1; }
[ "$(gauge)" = 0 ] ||
    { say "FAIL: unavailable: processor_pipeline_topics_missing is '$(gauge)' once the topic exists"; fail=1; }
produce "$BROKERS_E" 20001 $N
wait_prepared "$BROKERS_E" 180 || fail=1
produce_far "$BROKERS_E"
wait_results "$BROKERS_E" "$work/unavailable.out" 240 || fail=1
compare unavailable "$BROKERS_E"
# a broker that answers nothing (stopped): once the topic list kept (10 s) is old, the status
# says it could not ask, not that nothing is missing
kill -STOP "$KAFKA_PID"
sleep 11
unknown=$(curl -s -m 20 "http://127.0.0.1:$pport_e/pipelines/$PIPE" | jq -r '.status.missing_topics_unknown')
kill -CONT "$KAFKA_PID"
[[ "$unknown" == "the Kafka cluster could not be asked"* ]] ||
    { say "FAIL: unavailable: a stopped broker's status does not say the topics are unknown ($unknown)"; fail=1; }
fi

# --- the broker replaced under a Redis that keeps its checkpoints, as on every start of the local
# stack (its development broker keeps nothing): the positions the checkpoints resume from lie
# beyond the new broker's logs, whose records are all new. The results written to the first
# broker and to the second together must be the reference's: nothing skipped as "in the state
# already", nothing counted twice.
if wanted replaced; then
start_broker F
broker_f=$KAFKA_PID
rport_f=$(stack_free_port)
start_redis F "$rport_f"
start_processor f1.log "$BROKERS_F" "$rport_f"
f1=$PROC_PID
wait_assigned f1.log
produce "$BROKERS_F" 1 30000
wait_prepared "$BROKERS_F" 120 30000 || fail=1
port_f1=$(sed -n 's/.*"event":"http_listening","msg":"listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/f1.log" | head -1)
windowed=0
for _ in $(seq 1 300); do # the second stage took every prepared event
    windowed=$(curl -s "http://127.0.0.1:$port_f1/metrics" |
        awk '/^processor_records_total\{.*outcome="(windowed|late)"/ { s += $2 } END { print s + 0 }')
    [ "$windowed" -ge 30000 ] && break
    sleep 0.2
done
[ "$windowed" -ge 30000 ] || { say "FAIL: replaced: only $windowed of 30000 events windowed"; fail=1; }
kill -TERM $f1
wait $f1
results "$BROKERS_F" "$work/f-before.out"
kill -KILL $broker_f
wait $broker_f 2>/dev/null
say "replaced: $(wc -l <"$work/f-before.out") results on the first broker; a new, empty one replaces it"
start_broker G
start_processor f2.log "$BROKERS_G" "$rport_f"
wait_assigned f2.log
produce "$BROKERS_G" 30001 $N
wait_prepared "$BROKERS_G" 180 $((N - 30000)) || fail=1
produce_far "$BROKERS_G"
got=0
for _ in $(seq 1 240); do
    results "$BROKERS_G" "$work/f-after.out"
    cat "$work/f-before.out" "$work/f-after.out" >"$work/replaced.out"
    got=$(grep -o '"id":"[^"]*"' "$work/replaced.out" | sort -u | wc -l)
    [ "$got" -ge "$EXPECTED" ] && break
    sleep 1
done
[ "$got" -ge "$EXPECTED" ] || { say "FAIL: replaced: only $got of $EXPECTED results"; fail=1; }
grep -q '"event":"log_rewound".*'"$PIPE"'.repartition' "$work/f2.log" ||
    { say "FAIL: replaced: no error names the repartition log found behind its checkpoint"; fail=1; }
compare replaced "$BROKERS_G"
fi

# --- Redis behind Sentinel: the replica misses the last checkpoints when it is promoted
if wanted sentinel; then
start_broker S
mport_s=$(stack_free_port)
start_redis S "$mport_s"
master_s=$REDIS_PID
rport_s=$(stack_free_port)
start_redis S-replica "$rport_s" --replicaof 127.0.0.1 "$mport_s"
replica_s=$REDIS_PID
sport_s=$(stack_free_port)
cat >"$work/sentinel.conf" <<CONF
port $sport_s
bind 127.0.0.1
dir $work
sentinel monitor faults 127.0.0.1 $mport_s 1
sentinel down-after-milliseconds faults 1000
sentinel failover-timeout faults 10000
CONF
redis-server "$work/sentinel.conf" --sentinel >>"$work/sentinel.log" 2>&1 </dev/null &
pids+=($!)
stack_wait_port "$sport_s" 20
for _ in $(seq 1 300); do # the sentinel learns of the replica (it could not fail over before)
    redis-cli -p "$sport_s" SENTINEL replicas faults 2>/dev/null | grep -q "$rport_s" && break
    sleep 0.1
done
start_processor s1.log "$BROKERS_S" "redis-sentinel://127.0.0.1:$sport_s/0#faults"
s1=$PROC_PID
wait_assigned s1.log
produce "$BROKERS_S" 1 20000
sleep 2
produce "$BROKERS_S" 20001 36000 &
producer=$!
kill -STOP $replica_s
# (the master drops the link: what it writes from now on never reaches the replica, not even what
# would sit in the stopped replica's socket buffer)
redis-cli -p "$mport_s" CLIENT KILL TYPE replica >/dev/null
sleep 2
kill -KILL $master_s
wait $master_s 2>/dev/null
kill -CONT $replica_s
say "sentinel: stopped the replica 2 s under load, killed the master (-9)"
promoted=0
for _ in $(seq 1 600); do
    redis-cli -p "$sport_s" SENTINEL get-master-addr-by-name faults 2>/dev/null | grep -qx "$rport_s" &&
        { promoted=1; break; }
    sleep 0.1
done
[ $promoted = 1 ] || { say "FAIL: sentinel: Sentinel never promoted the replica"; fail=1; }
wait $producer
produce "$BROKERS_S" 36001 $N
wait_prepared "$BROKERS_S" 180 || fail=1
produce_far "$BROKERS_S"
wait_results "$BROKERS_S" "$work/sentinel.out" 240 || fail=1
grep -q '"event":"redis_sentinel_master".*'"$rport_s" "$work/s1.log" ||
    { say "FAIL: sentinel: the processor never followed the promoted replica"; fail=1; }
grep -q '"event":"checkpoint_lost"' "$work/s1.log" ||
    { say "FAIL: sentinel: no checkpoint the promoted replica missed was told"; fail=1; }
compare sentinel "$BROKERS_S"
fi

if [ $fail != 0 ]; then
    for f in ref.log wiped-1.log wiped-2.log b1.log b2.log pair-1.log pair-2.log pair-1b.log \
        e1.log f1.log f2.log paused-1.log paused-2.log wiped-one-stage-1.log wiped-one-stage-2.log pair-one-stage-1.log \
        pair-one-stage-2.log pair-one-stage-1b.log s1.log; do
        [ -f "$work/$f" ] || continue
        echo "---- $f"; grep -v '"level":"info"' "$work/$f" | tail -n 15
    done
fi
[ $fail = 0 ] && say "ok"
exit $fail
