#!/usr/bin/env bash
# bench/processor: throughput of a keyed pipeline (count and sum over 100,000 keys in 10 s
# tumbling windows, re-keyed through its repartition topic, Redis checkpoints every second) over
# 300,000 events already on the development broker, next to kcat consuming the same topic in the
# same run (the reference: reading the records without doing anything with them); and the same
# pipeline with hopping(1h, 1m) windows, whose cost per event should stay near tumbling's (panes);
# and the latency from a window's end to its result on Kafka over live input. The same tumbling
# pipeline also runs over the same events keyed by the pipeline's key ("repartition": false: one
# stage, each event crossing Kafka twice, read and its result written), next to kcat reading
# that topic. Both also run with two processors in one consumer group on this machine (each takes
# half of the partitions): what scaling out gives on two cores. Both also run with
# "deduplicate" (each event's id kept with its key's windows; no event repeats here): its cost;
# and a pipeline keyed by the events' type (one key holding every event of its windows) runs with
# and without it: a hot key's ids, written whole in each checkpoint.
# Results per event: in the events above event time advances 1 ms per event, so a 10 s window
# holds 10,000 events over 100,000 keys and nearly every event makes a result of its own (0.92
# results per event: each result written is most of the work). The same pipeline also runs over
# the same events with event time advancing as fast as the processor reads them (5 us per event,
# 200,000 events a second: the 300,000 events fall in one window, about three per key), timed
# until every one of that window's results is emitted (a last event in each partition, 30 s
# later, closes it): what it reaches when a result sums up several events.
# The tumbling job also runs written by hand (bench_processor.c: librdkafka, jansson and hiredis,
# the same windows, results and checkpoints with no runtime), over both topics: the reference of
# what that job costs here without the processor.
# A second reference puts the pipeline's output in proportion: kcat writing the records of one
# tumbling run's results again (the same keys and values, with the four CloudEvents headers a
# result carries, the processor's producer settings), and what kcat alone reaches reading the
# events and then writing those results (neither the repartition topic nor any processing).
# The reference is kcat with the processor's own consumer settings: fetch.wait.max.ms 10 ms (the
# development broker answers an empty fetch only when that wait ends, so the default 500 ms stalls
# a consumer) and queued.min.messages a million (librdkafka 2.0.2 stops fetching for a second once
# a consumer's queue holds that many: with its default of 100,000, kcat writing to a pipe whose
# reader is a little slower than the fetcher ran at a fifth of its speed). kcat also runs with
# librdkafka's defaults and with each of the two settings alone, to show what each one does. A pipeline that filters every event out shows what the
# processor's consuming alone reaches (records read, envelopes parsed, the filter evaluated), and
# the tumbling pipeline whose `having` holds for no result what it reaches without writing them.
# Each figure is the median of RUNS runs (fresh consumer group each). The processor's rate counts
# input events; each goes through both stages (input → repartition → windows). For the tumbling
# and the filter-all pipelines it also prints the stream thread's CPU time per event and its share
# of the measured time on a CPU (the scheduler's account in /proc): steadier than throughput on a
# machine whose speed drifts, and near 100 % when that one thread bounds the rate. The CPU time per
# event of whole processes (the processor's threads with the broker and Redis; kcat's with the
# broker) puts the 70 % target in proportion: kcat's rate uses both cores of this machine, so at 70 %
# of it a pipeline has at most (cores / 0.7 kcat's rate) of CPU per event, against what kcat alone
# spends on one stage's Kafka I/O (reading an event, writing the results it makes).
# Usage: run.sh <build-dir> [runs]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
RUNS=${2:-3}
N=300000
. scripts/stack-lib.sh
make -s O="$BUILD" "$BUILD/bin/bench-processor" >/dev/null || exit 1
export STACK_DIR
STACK_DIR=$(mktemp -d /tmp/eventstack-bench.XXXXXX)
export BUILD_DIR=$ROOT/$BUILD DEVKAFKA_PARTITIONS=16
STACK_SERVICES=()
cleanup() {
    stack_stop_all >/dev/null 2>&1
    rm -rf "$STACK_DIR"
}
trap cleanup EXIT
stack_init
REDIS_PORT=$(stack_free_port)
# the broker's topics with 16 partitions (others, as events_keyed, are created with 4 when first
# written)
export DEVKAFKA_TOPICS=events,derived,alerts,events.late,dlq,events_dense
stack_start_kafka || exit 1
stack_start_redis || exit 1
export KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500
export BIND_ADDR=127.0.0.1 LOG_LEVEL=warn

# the same events twice: keyed by their subject (not the pipeline's key: re-keyed through the
# repartition topic), and keyed by their merchant (the pipeline's key: "repartition": false)
# (and how many (merchant, 10 s window) pairs they hold: the results of the job by hand below)
awk -v n=$N -v keyed="$STACK_DIR/keyed.tsv" -v pairs="$STACK_DIR/pairs" 'BEGIN { srand(7);
    for (i = 0; i < n; i++) {
        t = 1767225600000 + i; s = int(t / 1000); ms = t % 1000; m = int(rand() * 100000)
        npairs += !seen[m, int(i / 10000)]++
        ev = sprintf("{\"specversion\":\"1.0\",\"type\":\"payment.created\",\"source\":\"/bench\",\"id\":\"b%d\",\"time\":\"2026-01-01T00:%02d:%02d.%03dZ\",\"subject\":\"u%d\",\"data\":{\"merchant\":\"m%d\",\"amount\":%d}}",
            i, int((s - 1767225600) / 60), (s - 1767225600) % 60, ms, i % 1000, m, i % 500)
        printf "u%d\t%s\n", i % 1000, ev
        printf "m%d\t%s\n", m, ev >keyed
    }
    print npairs >pairs }' >"$STACK_DIR/events.tsv"
kcat -P -b "$KAFKA_BROKERS" -t events -K $'\t' -z lz4 -X batch.size=65536 <"$STACK_DIR/events.tsv" ||
    exit 1
kcat -P -b "$KAFKA_BROKERS" -t events_keyed -K $'\t' -z lz4 -X batch.size=65536 \
    <"$STACK_DIR/keyed.tsv" || exit 1
# the same events, 5 us apart in event time, then one event 30 s later in each partition
awk -v n=$N -v distinct="$STACK_DIR/dense_keys" 'BEGIN { srand(7);
    for (i = 0; i < n; i++) {
        t = 1767225600000 + int(i / 200); s = int(t / 1000); ms = t % 1000; m = int(rand() * 100000)
        keys += !seen[m]++
        printf "u%d\t{\"specversion\":\"1.0\",\"type\":\"payment.created\",\"source\":\"/bench\",\"id\":\"b%d\",\"time\":\"2026-01-01T00:00:%02d.%03dZ\",\"subject\":\"u%d\",\"data\":{\"merchant\":\"m%d\",\"amount\":%d}}\n",
            i % 1000, i, s - 1767225600, ms, i % 1000, m, i % 500
    }
    print keys >distinct }' >"$STACK_DIR/dense.tsv"
kcat -P -b "$KAFKA_BROKERS" -t events_dense -K $'\t' -z lz4 -X batch.size=65536 \
    <"$STACK_DIR/dense.tsv" || exit 1
for p in $(seq 0 15); do
    echo "{\"specversion\":\"1.0\",\"type\":\"payment.created\",\"source\":\"/bench\",\"id\":\"close$p\",\"time\":\"2026-01-01T00:00:30Z\",\"subject\":\"close\",\"data\":{\"merchant\":\"close$p\",\"amount\":0}}" |
        kcat -P -b "$KAFKA_BROKERS" -t events_dense -p "$p" || exit 1
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# kcat_rate: events/s of kcat reading every partition of the topic from the beginning, timed from
# its first record to its last as the processor is (kcat's start, metadata and first fetch left
# out: they took 40 to 600 ms here, most of the spread between runs when they were counted). The
# reader starts kcat itself, so kcat's first record is timed when kcat writes it: started ahead
# of its reader, kcat filled its queue while the reader started, and read faster than it can.
# Its lines are counted in whole chunks (in C), so the reader costs little next to kcat.
# kcat_rate [kcat options]
# With KCAT_CPU_OUT=file it also appends the CPU time per event of kcat (all its threads, start
# included) and of the broker over kcat's whole run.
kcat_rate() {
    python3 -c '
import resource, subprocess, sys, time
want, cpu_out, broker = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def ticks(pid):
    """CPU time of a process so far, in seconds (user + system)"""
    fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100

b0 = ticks(broker)
kcat = subprocess.Popen(sys.argv[4:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
n, first, t0 = 0, 0, None
while n < want:
    chunk = kcat.stdout.read1(1 << 16)
    if not chunk:
        sys.exit("kcat ended after %d records" % n)
    n += chunk.count(b"\n")
    if t0 is None:
        first, t0 = n, time.monotonic()
print(int((n - first) / (time.monotonic() - t0)))
kcat.wait()
if cpu_out:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(cpu_out, "a") as out:
        out.write("%d %d\n" % ((use.ru_utime + use.ru_stime) * 1e9 / n, (ticks(broker) - b0) * 1e9 / n))
' $N "${KCAT_CPU_OUT:-}" "$(stack_pid devkafka)" \
        kcat -C -b "$KAFKA_BROKERS" -t "${KCAT_TOPIC:-events}" -o beginning -e -q "$@"
}

# processor_rate <window JSON> <run> [<definition's other members> <outcomes>]: events/s from its
# first windowed event (or of the outcomes given) to its last (start-up and the consumer group's
# join left out), or with RESULTS=n until it has emitted n results; with INSTANCES=n, of n
# processors in one group (their counters added up), timed from when each has windowed an event
processor_rate() {
    local name=bench$2$RANDOM port dir=$STACK_DIR/p$2 outcomes=${4:-windowed|late} body=${3:-}
    local ports=() pids=() i
    mkdir -p "$dir"
    if [ -z "$body" ]; then
        body='"key": "data.merchant", "window": '$1', "out_of_orderness": "5s",
 "aggregates": {"n": "count()", "total": "sum(data.amount)"}, "sink": {"topic": "derived"}'
    fi
    echo "{\"name\": \"$name\", $body}" >"$dir/def.json"
    for i in $(seq 1 "${INSTANCES:-1}"); do
        port=$(stack_free_port)
        env -u DATABASE_URL PROCESSOR_AUTH_DISABLED=true \
            PROCESSOR_CHECKPOINT="${CHECKPOINT:-1s}" PROCESSOR_PORT=$port PROCESSOR_GROUP="g-$name" PROCESSOR_PIPELINES_DIR="$dir" \
            KAFKA_BROKERS="$KAFKA_BROKERS" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
            "$BUILD_DIR/bin/processor" >"$dir/log$i" 2>&1 </dev/null &
        pids+=($!)
        ports+=("$port")
    done
    # one process keeps one connection and reads the counter every 20 ms: a curl and an awk
    # started 50 times a second took about half of this 2-core machine from what it measures
    python3 - "${ports[*]}" "$name" $N "$outcomes" "${pids[0]}" "${CPU_OUT:-}" "${RESULTS:-0}" \
        "$(stack_pid devkafka)" "$(stack_pid redis)" <<'PY'
import glob, http.client, re, sys, time
ports, name, n = [int(p) for p in sys.argv[1].split()], sys.argv[2], int(sys.argv[3])
want_results = int(sys.argv[7])

def oncpu(*pids):
    """ns each thread of the pids has run on a CPU so far (the scheduler's account)"""
    ns = {}
    for task in [t for pid in pids for t in glob.glob("/proc/%s/task/*" % pid)]:
        try:
            ns[task] = int(open(task + "/schedstat").read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return ns

pat = re.compile(r'^processor_records_total\{pipeline="%s",outcome="(?:%s)"[^}]*\} (\S+)$'
                 % (re.escape(name), sys.argv[4]), re.M)
rpat = re.compile(r'^processor_results_total\{pipeline="%s"\} (\S+)$' % re.escape(name), re.M)
conns, first, t0, start = {}, 0, None, time.monotonic()
while True:
    now = time.monotonic()
    if now - start > 300:
        sys.exit("processor did not finish")
    try:
        each, results = [], 0
        for port in ports:
            conns[port] = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port,
                                                                        timeout=5)
            conns[port].request("GET", "/metrics")
            body = conns[port].getresponse().read().decode()
            each.append(sum(float(v) for v in pat.findall(body)))
            results += sum(float(v) for v in rpat.findall(body))
    except (OSError, http.client.HTTPException):
        conns = {}
        time.sleep(0.05)
        continue
    now = time.monotonic()
    got = sum(each)
    # timed once every instance works (the group's rebalance when the second one joins, which
    # stalls the first, is left out with the start-up)
    if min(each) > 0 and t0 is None:
        first, t0, cpu0, around0 = got, now, oncpu(sys.argv[5]), oncpu(*sys.argv[8:])
    if got >= n and results >= want_results:
        print(int((n - first) / (now - t0 + 0.001)))
        if sys.argv[6] and n > first:
            # the busiest thread (the stream thread): its CPU time per event, and its share of
            # the wall-clock time (near 100 %: that one thread bounds the rate)
            # and all of its threads, with the broker and Redis (the whole CPU of the machine
            # that the pipeline uses, which bounds the rate on two cores)
            cpu1, around1 = oncpu(sys.argv[5]), oncpu(*sys.argv[8:])
            top = max(cpu1[t] - cpu0.get(t, 0) for t in cpu1)
            total = sum(cpu1[t] - cpu0.get(t, 0) for t in cpu1)
            total += sum(around1[t] - around0.get(t, 0) for t in around1)
            with open(sys.argv[6], "a") as out:
                out.write("%d %d %d\n" % (top / (n - first), 100 * top / ((now - t0) * 1e9),
                                          total / (n - first)))
        break
    time.sleep(0.02)
PY
    kill -TERM "${pids[@]}"
    wait "${pids[@]}"
}

# latency <run>: ms from a window's end to its result on Kafka (the result record's timestamp),
# over live input: events stamped with the wall clock every 10 ms, 16 input partitions, 1 s
# tumbling windows keyed through the repartition topic, out_of_orderness 0. A window's end is
# passed when the first later event of every input partition has gone through the first stage
# (within about 10 ms of the end), so this starts before the watermark passes; it ends when
# librdkafka was handed the result (the record's timestamp), before its linger and the broker's
# acknowledgement. The processor's own histogram measures the span the target names, from the
# emit (the watermark passing) to the acknowledgement; the run saves its buckets. Prints one
# latency per result.
# the bytes Redis has read from its clients so far; per_event <file>: those read since the number
# in the file, per event of the input
redis_bytes() { redis-cli -p "$REDIS_PORT" INFO stats | awk -F: '/^total_net_input_bytes:/ { print $2 + 0 }'; }
redis_per_event() {
    awk -v a="$(redis_bytes)" -v b="$(cat "$1")" -v n=$N 'BEGIN { printf "%.1f\n", (a - b) / n }'
}

latency() {
    local name=lat$1$RANDOM port dir=$STACK_DIR/l$1
    mkdir -p "$dir"
    cat >"$dir/def.json" <<JSON
{"name": "$name", "source": {"topics": ["live$1"]}, "key": "data.k",
 "window": {"type": "tumbling", "size": "1s"}, "idle_timeout": "5s",
 "aggregates": {"n": "count()"}, "sink": {"topic": "out$1"}}
JSON
    port=$(stack_free_port)
    env -u DATABASE_URL PROCESSOR_AUTH_DISABLED=true \
        PROCESSOR_PORT=$port PROCESSOR_GROUP="g-$name" PROCESSOR_PIPELINES_DIR="$dir" \
        KAFKA_BROKERS="$KAFKA_BROKERS" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
        "$BUILD_DIR/bin/processor" >"$dir/log" 2>&1 </dev/null &
    local pid=$!
    stack_wait_port "$port" 20
    sleep 3 # the group's join
    # 15 s of input: every 10 ms one event per record key p0..p63 (every partition), stamped with
    # the wall clock, so a window's end is passed within about 10 ms on every partition
    python3 -c '
import sys, time
end = time.time() + 15
i = 0
while time.time() < end:
    t0 = time.time()
    ms = int(t0 * 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    for j in range(64):
        print("p%d\t{\"type\":\"t\",\"source\":\"/lat\",\"id\":\"%d-%d\",\"time\":\"%s\",\"data\":{\"k\":\"k%d\"}}" % (j, i, j, stamp, j % 10))
    sys.stdout.flush()
    i += 1
    time.sleep(max(0.0, 0.01 - (time.time() - t0)))
' | kcat -P -b "$KAFKA_BROKERS" -t "live$1" -K $'\t' -X linger.ms=1 2>/dev/null
    sleep 2
    # the processor's own measure: emit (the watermark passing) → acknowledged by Kafka, as the
    # cumulative buckets of its histogram of results ("<le seconds> <count>" lines)
    curl -s "http://127.0.0.1:$port/metrics" |
        sed -n 's/^processor_produce_latency_seconds_bucket{kind="output",le="\([^"]*\)"} /\1 /p' \
            >"$STACK_DIR/acked$1"
    kill -TERM $pid
    wait $pid
    kcat -C -b "$KAFKA_BROKERS" -t "out$1" -e -q -f '%T %s\n' 2>/dev/null |
        while read -r ts json; do
            end=$(jq -r '.data.window_end | sub("\\.[0-9]+Z$"; "Z") | fromdate' <<<"$json")
            echo $((ts - end * 1000))
        done
}

# kcat_produce_rate <run>: records/s of kcat writing the first tumbling run's results again;
# appends to $STACK_DIR/kcat_produce_cpu the CPU time per record of kcat and of the broker
kcat_produce_rate() {
    python3 -c '
import resource, subprocess, sys, time

def ticks(pid):
    """CPU time of a process so far, in seconds (user + system)"""
    fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100

records, broker, cpu_out = sys.argv[1], sys.argv[2], sys.argv[3]
n = sum(1 for _ in open(records))
b0, t0 = ticks(broker), time.monotonic()
if subprocess.run(sys.argv[4:], stdin=open(records)).returncode:
    sys.exit("kcat failed")
print(int(n / (time.monotonic() - t0)))
use = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(cpu_out, "a") as out:
    out.write("%d %d\n" % ((use.ru_utime + use.ru_stime) * 1e9 / n, (ticks(broker) - b0) * 1e9 / n))
' "$STACK_DIR/results.tsv" "$(stack_pid devkafka)" "$STACK_DIR/kcat_produce_cpu" \
        kcat -P -b "$KAFKA_BROKERS" -t "again$1" -K $'\t' -z lz4 -X enable.idempotence=true \
        -X linger.ms=5 -H ce_id=0192f3a4-5b6c-5d8e-9f01-23456789abcd -H ce_type=pipeline.result \
        -H ce_source=processor/bench -H content-type=application/cloudevents+json
}

# hand_rate <run> <topic>: the job written by hand over the topic: "<events/s> <CPU ns per event
# of its threads> <of the broker and Redis>", timed from its first event to its last (the broker's
# and Redis's CPU over its whole run, start-up included: a little more than their share). One
# process reads every partition, so it needs no repartition topic whatever the input's keys.
hand_rate() {
    local b0 r0 out
    b0=$(ticks "$(stack_pid devkafka)")
    r0=$(ticks "$(stack_pid redis)")
    out=$("$BUILD_DIR/bin/bench-processor" "$KAFKA_BROKERS" "$2" "hand$1$RANDOM" $N \
        "hand_$2$1" 127.0.0.1 "$REDIS_PORT") || return 1
    echo "$out $(($(ticks "$(stack_pid devkafka)") - b0 + $(ticks "$(stack_pid redis)") - r0))" |
        awk -v n=$N '{ printf "%d %d %d\n", $1, $2, $3 * 1e7 / n }'
}
# ticks <pid>: the CPU time of a process so far, in 1/100 s (user + system)
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

for r in $(seq 1 "$RUNS"); do
    latency "$r" >>"$STACK_DIR/latency"
    KCAT_CPU_OUT=$STACK_DIR/kcat_cpu kcat_rate -X fetch.wait.max.ms=10 \
        -X queued.min.messages=1000000 >>"$STACK_DIR/kcat"
    kcat_rate >>"$STACK_DIR/kcatd"
    kcat_rate -X fetch.wait.max.ms=10 >>"$STACK_DIR/kcat10"
    kcat_rate -X queued.min.messages=1000000 >>"$STACK_DIR/kcatq"
    CPU_OUT=$STACK_DIR/filtered_cpu processor_rate '' "f$r" '"source": {"topics": ["events"],
 "filter": "type == '"'none'"'"}, "sink": {"topic": "derived"}' filtered >>"$STACK_DIR/filtered"
    CPU_OUT=$STACK_DIR/tumbling_cpu processor_rate '{"type": "tumbling", "size": "10s"}' "t$r" \
        >>"$STACK_DIR/tumbling"
    processor_rate '' "n$r" '"key": "data.merchant", "window": {"type": "tumbling", "size": "10s"},
 "out_of_orderness": "5s", "aggregates": {"n": "count()", "total": "sum(data.amount)"},
 "having": "n > 1000000000", "sink": {"topic": "derived"}' >>"$STACK_DIR/unwritten"
    if [ "$r" = 1 ]; then # one run's results (the topic holds only theirs so far)
        kcat -C -b "$KAFKA_BROKERS" -t derived -e -q -f '%k\t%s\n' 2>/dev/null |
            grep -v '^$' >"$STACK_DIR/results.tsv"
    fi
    kcat_produce_rate "$r" >>"$STACK_DIR/kcat_produce"
    processor_rate '{"type": "hopping", "size": "1h", "slide": "1m"}' "h$r" >>"$STACK_DIR/hopping"
    # the input already keyed by the pipeline's key: one stage, no repartition topic
    KCAT_TOPIC=events_keyed KCAT_CPU_OUT=$STACK_DIR/kcat_keyed_cpu kcat_rate \
        -X fetch.wait.max.ms=10 -X queued.min.messages=1000000 >>"$STACK_DIR/kcat_keyed"
    CPU_OUT=$STACK_DIR/keyed_cpu processor_rate '' "k$r" '"source": {"topics": ["events_keyed"]},
 "repartition": false, "key": "data.merchant", "window": {"type": "tumbling", "size": "10s"},
 "out_of_orderness": "5s", "aggregates": {"n": "count()", "total": "sum(data.amount)"},
 "sink": {"topic": "derived_keyed"}' >>"$STACK_DIR/keyed"
    hand_rate "$r" events_keyed >>"$STACK_DIR/hand"
    hand_rate "$r" events >>"$STACK_DIR/hand_events"
    # both with "deduplicate": each event's id kept with its key's windows (none repeats here)
    CPU_OUT=$STACK_DIR/keyed_dedup_cpu processor_rate '' "kd$r" '"source": {"topics": ["events_keyed"]},
 "repartition": false, "key": "data.merchant", "window": {"type": "tumbling", "size": "10s"},
 "out_of_orderness": "5s", "deduplicate": true,
 "aggregates": {"n": "count()", "total": "sum(data.amount)"}, "sink": {"topic": "derived_dedup"}' \
        >>"$STACK_DIR/keyed_dedup"
    CPU_OUT=$STACK_DIR/tumbling_dedup_cpu processor_rate '' "td$r" '"key": "data.merchant",
 "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "5s", "deduplicate": true,
 "aggregates": {"n": "count()", "total": "sum(data.amount)"}, "sink": {"topic": "derived_dedup"}' \
        >>"$STACK_DIR/tumbling_dedup"
    # one key (every event's type is the same): its windows hold every event, and with
    # "deduplicate" every event's id, which its checkpoint writes whole whenever it changes
    processor_rate '' "o$r" '"key": "type", "window": {"type": "tumbling", "size": "10s"},
 "out_of_orderness": "5s", "aggregates": {"n": "count()", "total": "sum(data.amount)"},
 "sink": {"topic": "derived_dedup"}' >>"$STACK_DIR/onekey"
    processor_rate '' "od$r" '"key": "type", "window": {"type": "tumbling", "size": "10s"},
 "out_of_orderness": "5s", "deduplicate": true,
 "aggregates": {"n": "count()", "total": "sum(data.amount)"}, "sink": {"topic": "derived_dedup"}' \
        >>"$STACK_DIR/onekey_dedup"
    # one key whose one window holds every event (1 h: all 300,000 of them, and with
    # "deduplicate" their ids, up to 1,000,000), checkpointed every 100 ms: each checkpoint writes
    # the ids the key took since the one before (in a block of its own), not all of them; what
    # Redis reads per event tells the two apart whatever the machine's speed
    redis_bytes >"$STACK_DIR/rb0"
    CHECKPOINT=100ms processor_rate '' "lk$r" '"key": "type", "window": {"type": "tumbling",
 "size": "1h"}, "out_of_orderness": "5s", "aggregates": {"n": "count()", "total": "sum(data.amount)"},
 "sink": {"topic": "derived_dedup"}' >>"$STACK_DIR/longkey"
    redis_per_event "$STACK_DIR/rb0" >>"$STACK_DIR/longkey_bytes"
    redis_bytes >"$STACK_DIR/rb0"
    CHECKPOINT=100ms processor_rate '' "lkd$r" '"key": "type", "window": {"type": "tumbling",
 "size": "1h"}, "out_of_orderness": "5s", "deduplicate": {"max_ids_per_key": 1000000},
 "aggregates": {"n": "count()", "total": "sum(data.amount)"}, "sink": {"topic": "derived_dedup"}' \
        >>"$STACK_DIR/longkey_dedup"
    redis_per_event "$STACK_DIR/rb0" >>"$STACK_DIR/longkey_dedup_bytes"
    # about three events per key and window, every result emitted
    KCAT_TOPIC=events_dense kcat_rate -X fetch.wait.max.ms=10 -X queued.min.messages=1000000 \
        >>"$STACK_DIR/kcat_dense"
    RESULTS=$(cat "$STACK_DIR/dense_keys") processor_rate '' "d$r" '"source": {"topics": ["events_dense"]},
 "key": "data.merchant", "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "5s",
 "aggregates": {"n": "count()", "total": "sum(data.amount)"}, "sink": {"topic": "derived_dense"}' \
        >>"$STACK_DIR/dense"
    # two instances in one group on this machine (each takes half of the partitions)
    INSTANCES=2 processor_rate '{"type": "tumbling", "size": "10s"}' "t2$r" >>"$STACK_DIR/tumbling2"
    INSTANCES=2 processor_rate '' "k2$r" '"source": {"topics": ["events_keyed"]},
 "repartition": false, "key": "data.merchant", "window": {"type": "tumbling", "size": "10s"},
 "out_of_orderness": "5s", "aggregates": {"n": "count()", "total": "sum(data.amount)"},
 "sink": {"topic": "derived_keyed"}' >>"$STACK_DIR/keyed2"
done
cut -d' ' -f2,3 "$STACK_DIR/hand" >"$STACK_DIR/hand_cpu"
sum_median() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' "$1" | median; }
k=$(median <"$STACK_DIR/kcat")
kd=$(median <"$STACK_DIR/kcatd")
k10=$(median <"$STACK_DIR/kcat10")
kq=$(median <"$STACK_DIR/kcatq")
t=$(median <"$STACK_DIR/tumbling")
h=$(median <"$STACK_DIR/hopping")
f=$(median <"$STACK_DIR/filtered")
# share_per_run <kcat file>: the processor's share of kcat run by run (the processor and kcat of
# one run met the same machine), median
share_per_run() { paste "$STACK_DIR/tumbling" "$1" | awk '{ print int($1 * 100 / $2) }' | median; }
echo "BENCH processor_tumbling_count_sum_100k_keys $t events/s"
echo "BENCH kcat_consume_same_topic $k events/s (the processor's consumer settings)"
echo "BENCH processor_share_of_kcat $((t * 100 / k)) %"
echo "BENCH processor_share_of_kcat_per_run_median $(share_per_run "$STACK_DIR/kcat") %"
echo "BENCH kcat_consume_same_topic_librdkafka_defaults $kd events/s"
echo "BENCH processor_share_of_kcat_librdkafka_defaults $((t * 100 / kd)) %"
echo "BENCH processor_share_of_kcat_librdkafka_defaults_per_run_median $(share_per_run "$STACK_DIR/kcatd") %"
echo "BENCH kcat_consume_same_topic_fetch_wait_10ms_only $k10 events/s"
echo "BENCH kcat_consume_same_topic_queued_min_1m_only $kq events/s"
echo "BENCH processor_consume_filter_all $f events/s"
echo "BENCH processor_consume_filter_all_share_of_kcat $((f * 100 / k)) %"
# CPU time is steadier than throughput on this machine, whose speed drifts by a third
echo "BENCH processor_tumbling_stream_thread_cpu_per_event $(cut -d' ' -f1 "$STACK_DIR/tumbling_cpu" | median) ns"
echo "BENCH processor_tumbling_stream_thread_on_cpu $(cut -d' ' -f2 "$STACK_DIR/tumbling_cpu" | median) %"
echo "BENCH processor_filter_all_stream_thread_cpu_per_event $(cut -d' ' -f1 "$STACK_DIR/filtered_cpu" | median) ns"
echo "BENCH processor_filter_all_stream_thread_on_cpu $(cut -d' ' -f2 "$STACK_DIR/filtered_cpu" | median) %"
echo "BENCH processor_tumbling_results_not_written $(median <"$STACK_DIR/unwritten") events/s"
echo "BENCH processor_hopping_1h_1m $h events/s"
p99=$(sort -n "$STACK_DIR/latency" | awk '{ v[NR] = $1 } END { print v[int(NR * 0.99 + 0.5)] }')
p50=$(sort -n "$STACK_DIR/latency" | awk '{ v[NR] = $1 } END { print v[int(NR * 0.5 + 0.5)] }')
echo "BENCH processor_window_end_to_result_p99 $p99 ms"
echo "BENCH processor_window_end_to_result_p50 $p50 ms ($(wc -l <"$STACK_DIR/latency") results)"
# the runs' histograms added up; the p99 is the upper bound of the bucket that holds it
echo "BENCH processor_watermark_to_result_acked_p99_at_most $(cat "$STACK_DIR"/acked* | awk '
    { n[$1] += $2 } END { for (le in n) if (le != "+Inf") print le * 1000, n[le]; print "inf", n["+Inf"] }' |
    sort -g | awk '{ le[NR] = $1; c[NR] = $2 } END {
        for (i = 1; i <= NR; i++) if (c[i] >= 0.99 * c[NR]) { print le[i]; exit } }') ms"
echo "BENCH hopping_cost_vs_tumbling $(awk -v t="$t" -v h="$h" 'BEGIN { printf "%.2f", t / h }') x"
results=$(wc -l <"$STACK_DIR/results.tsv")
kp=$(median <"$STACK_DIR/kcat_produce")
# kcat reading N events, then writing the results they make: N / (N/k + results/kp) events/s
kio=$(awk -v n=$N -v k="$k" -v r="$results" -v p="$kp" 'BEGIN { printf "%d", n / (n / k + r / p) }')
echo "BENCH processor_results_per_event $(awk -v r="$results" -v n=$N 'BEGIN { printf "%.2f", r / n }') results"
echo "BENCH kcat_produce_results_with_headers $kp records/s"
echo "BENCH kcat_read_events_then_write_results $kio events/s"
echo "BENCH processor_share_of_kcat_read_then_write $((t * 100 / kio)) %"
kk=$(median <"$STACK_DIR/kcat_keyed")
o=$(median <"$STACK_DIR/keyed")
echo "BENCH processor_tumbling_one_stage_keyed_input $o events/s (\"repartition\": false)"
echo "BENCH kcat_consume_keyed_topic $kk events/s"
echo "BENCH processor_one_stage_share_of_kcat $((o * 100 / kk)) %"
echo "BENCH processor_one_stage_share_of_kcat_per_run_median $(paste "$STACK_DIR/keyed" "$STACK_DIR/kcat_keyed" |
    awk '{ print int($1 * 100 / $2) }' | median) %"
echo "BENCH processor_one_stage_stream_thread_cpu_per_event $(cut -d' ' -f1 "$STACK_DIR/keyed_cpu" | median) ns"
echo "BENCH processor_one_stage_share_of_kcat_read_then_write $((o * 100 / kio)) %"
# the job by hand does the same job: a result for each (merchant, window) pair of the input (it
# writes those still open when it stops)
hand_results=$(kcat -C -b "$KAFKA_BROKERS" -t hand_events_keyed1 -e -q 2>/dev/null | grep -c .)
echo "BENCH handwritten_c_results $hand_results results (of one run; the input holds $(cat "$STACK_DIR/pairs") (merchant, window) pairs)"
hr=$(cut -d' ' -f1 "$STACK_DIR/hand" | median)
echo "BENCH handwritten_c_one_stage $hr events/s (the same job on librdkafka, jansson and hiredis by hand: bench_processor.c)"
echo "BENCH handwritten_c_one_stage_share_of_kcat $((hr * 100 / kk)) %"
echo "BENCH processor_one_stage_vs_handwritten_c $(awk -v a="$o" -v b="$hr" 'BEGIN { printf "%.2f", a / b }') x (run by run $(cut -d' ' -f1 "$STACK_DIR/hand" | paste "$STACK_DIR/keyed" - | awk '{ printf "%.2f\n", $1 / $2 }' | median)x)"
he=$(cut -d' ' -f1 "$STACK_DIR/hand_events" | median)
echo "BENCH handwritten_c_same_topic $he events/s (by hand over the events the two-stage pipeline reads: one process, no repartition topic)"
echo "BENCH handwritten_c_same_topic_share_of_kcat $((he * 100 / k)) %"
echo "BENCH processor_tumbling_vs_handwritten_c $(awk -v a="$t" -v b="$he" 'BEGIN { printf "%.2f", a / b }') x (run by run $(cut -d' ' -f1 "$STACK_DIR/hand_events" | paste "$STACK_DIR/tumbling" - | awk '{ printf "%.2f\n", $1 / $2 }' | median)x)"
echo "BENCH handwritten_c_one_stage_cpu_per_event $(sum_median "$STACK_DIR/hand_cpu") ns (its threads $(cut -d' ' -f1 "$STACK_DIR/hand_cpu" | median), the broker and Redis $(cut -d' ' -f2 "$STACK_DIR/hand_cpu" | median))"
td=$(median <"$STACK_DIR/tumbling_dedup")
od=$(median <"$STACK_DIR/keyed_dedup")
echo "BENCH processor_tumbling_deduplicated $td events/s ($(awk -v a="$td" -v b="$t" 'BEGIN { printf "%.2f", a / b }')x without; run by run $(paste "$STACK_DIR/tumbling_dedup" "$STACK_DIR/tumbling" | awk '{ printf "%.2f\n", $1 / $2 }' | median)x)"
echo "BENCH processor_one_stage_deduplicated $od events/s ($(awk -v a="$od" -v b="$o" 'BEGIN { printf "%.2f", a / b }')x without; run by run $(paste "$STACK_DIR/keyed_dedup" "$STACK_DIR/keyed" | awk '{ printf "%.2f\n", $1 / $2 }' | median)x)"
ok1=$(median <"$STACK_DIR/onekey")
okd=$(median <"$STACK_DIR/onekey_dedup")
echo "BENCH processor_one_key $ok1 events/s (every event under one key)"
echo "BENCH processor_one_key_deduplicated $okd events/s ($(awk -v a="$okd" -v b="$ok1" 'BEGIN { printf "%.2f", a / b }')x without; run by run $(paste "$STACK_DIR/onekey_dedup" "$STACK_DIR/onekey" | awk '{ printf "%.2f\n", $1 / $2 }' | median)x)"
lk=$(median <"$STACK_DIR/longkey")
lkd=$(median <"$STACK_DIR/longkey_dedup")
echo "BENCH processor_one_key_1h $lk events/s (one window holding every event, checkpoints every 100 ms)"
echo "BENCH processor_one_key_1h_deduplicated $lkd events/s ($(awk -v a="$lkd" -v b="$lk" 'BEGIN { printf "%.2f", a / b }')x without; run by run $(paste "$STACK_DIR/longkey_dedup" "$STACK_DIR/longkey" | awk '{ printf "%.2f\n", $1 / $2 }' | median)x)"
echo "BENCH processor_one_key_1h_redis_bytes_per_event $(median <"$STACK_DIR/longkey_bytes") B"
echo "BENCH processor_one_key_1h_deduplicated_redis_bytes_per_event $(median <"$STACK_DIR/longkey_dedup_bytes") B"
echo "BENCH processor_one_stage_deduplicated_stream_thread_cpu_per_event $(cut -d' ' -f1 "$STACK_DIR/keyed_dedup_cpu" | median) ns (without: $(cut -d' ' -f1 "$STACK_DIR/keyed_cpu" | median))"
t2=$(median <"$STACK_DIR/tumbling2")
o2=$(median <"$STACK_DIR/keyed2")
# The machine's CPU per event (all threads of the processes, the broker's too), which bounds the
# rate on a machine whose cores are all busy: at 70 % of kcat's rate its cores give a pipeline at
# most this much CPU per event, against what the pipeline uses, and what kcat uses for the Kafka
# I/O of one stage alone (reading an event, writing the results it makes)
kc=$(sum_median "$STACK_DIR/kcat_cpu")
kpc=$(sum_median "$STACK_DIR/kcat_produce_cpu")
echo "BENCH kcat_consume_cpu_per_event $kc ns (kcat $(cut -d' ' -f1 "$STACK_DIR/kcat_cpu" | median), the broker $(cut -d' ' -f2 "$STACK_DIR/kcat_cpu" | median))"
echo "BENCH kcat_produce_cpu_per_result $kpc ns (kcat $(cut -d' ' -f1 "$STACK_DIR/kcat_produce_cpu" | median), the broker $(cut -d' ' -f2 "$STACK_DIR/kcat_produce_cpu" | median))"
echo "BENCH kcat_one_stage_io_cpu_per_event $(awk -v c="$kc" -v p="$kpc" -v r="$results" -v n=$N 'BEGIN { printf "%d", c + p * r / n }') ns (reading an event, writing $(awk -v r="$results" -v n=$N 'BEGIN { printf "%.2f", r / n }') results)"
echo "BENCH processor_tumbling_cpu_per_event $(cut -d' ' -f3 "$STACK_DIR/tumbling_cpu" | median) ns (its threads, the broker and Redis)"
echo "BENCH processor_one_stage_cpu_per_event $(cut -d' ' -f3 "$STACK_DIR/keyed_cpu" | median) ns (its threads, the broker and Redis)"
echo "BENCH cpu_per_event_at_70pct_of_kcat $(awk -v c="$(nproc)" -v k="$k" 'BEGIN { printf "%d", c * 1e9 / (0.7 * k) }') ns ($(nproc) cores at 70 % of kcat's $k events/s)"
echo "BENCH processor_tumbling_two_instances $t2 events/s ($(awk -v a="$t2" -v b="$t" 'BEGIN { printf "%.2f", a / b }')x one; $((t2 * 100 / k)) % of kcat)"
echo "BENCH processor_one_stage_two_instances $o2 events/s ($(awk -v a="$o2" -v b="$o" 'BEGIN { printf "%.2f", a / b }')x one; $((o2 * 100 / kk)) % of kcat)"
kde=$(median <"$STACK_DIR/kcat_dense")
de=$(median <"$STACK_DIR/dense")
echo "BENCH processor_tumbling_3_events_per_key_window $de events/s (every result emitted: $(cat "$STACK_DIR/dense_keys") results, $(awk -v r="$(cat "$STACK_DIR/dense_keys")" -v n=$N 'BEGIN { printf "%.2f", r / n }') per event)"
echo "BENCH kcat_consume_dense_topic $kde events/s"
echo "BENCH processor_3_events_per_key_window_share_of_kcat $((de * 100 / kde)) %"
echo "(runs: kcat $(tr '\n' ' ' <"$STACK_DIR/kcat")| kcat defaults $(tr '\n' ' ' <"$STACK_DIR/kcatd")| kcat 10 ms only $(tr '\n' ' ' <"$STACK_DIR/kcat10")| kcat queued.min 1M only $(tr '\n' ' ' <"$STACK_DIR/kcatq")| filter all $(tr '\n' ' ' <"$STACK_DIR/filtered")| results not written $(tr '\n' ' ' <"$STACK_DIR/unwritten")| tumbling $(tr '\n' ' ' <"$STACK_DIR/tumbling")| hopping $(tr '\n' ' ' <"$STACK_DIR/hopping")| kcat writing results $(tr '\n' ' ' <"$STACK_DIR/kcat_produce")| one stage $(tr '\n' ' ' <"$STACK_DIR/keyed")| deduplicated $(tr '\n' ' ' <"$STACK_DIR/tumbling_dedup")| one stage deduplicated $(tr '\n' ' ' <"$STACK_DIR/keyed_dedup")| one key $(tr '\n' ' ' <"$STACK_DIR/onekey")| one key deduplicated $(tr '\n' ' ' <"$STACK_DIR/onekey_dedup")| one key 1 h $(tr '\n' ' ' <"$STACK_DIR/longkey")| deduplicated $(tr '\n' ' ' <"$STACK_DIR/longkey_dedup")| two instances $(tr '\n' ' ' <"$STACK_DIR/tumbling2")| one stage, two instances $(tr '\n' ' ' <"$STACK_DIR/keyed2")| kcat keyed $(tr '\n' ' ' <"$STACK_DIR/kcat_keyed")| by hand $(cut -d' ' -f1 "$STACK_DIR/hand" | tr '\n' ' ')| by hand, events $(cut -d' ' -f1 "$STACK_DIR/hand_events" | tr '\n' ' ')| three events per key and window $(tr '\n' ' ' <"$STACK_DIR/dense")| kcat on those $(tr '\n' ' ' <"$STACK_DIR/kcat_dense")| $results results)"
