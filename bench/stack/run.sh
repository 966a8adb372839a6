#!/usr/bin/env bash
# bench/stack: the whole local stack of `make run` (scripts/stack.sh, every daemon and server on
# this machine, on free ports in a scratch directory) under sustained ingest: batches of 100
# events POSTed to the gateway at a fixed total rate (bench-gateway paced: open loop, 64
# connections) for a while, then nothing. It prints the rate the gateway accepted and its
# latency, how far behind the store (which writes every event to PostgreSQL) was when the load
# ended and how long it took to catch up, the records any daemon lost to the development broker's
# retention (`records_lost` on its /readyz; the target is none), and the share of one core the
# development broker used. The reference: kcat writing the same number of events, 100 to a
# batch line, straight to the same broker after the store caught up (no HTTP, auth, validation
# or answers, and nothing else reading).
# Usage: run.sh <build-dir> [events/s] [seconds]   (defaults: 20000 events/s for 50 s)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
RATE=${2:-20000}
SECS=${3:-50}
. scripts/stack-lib.sh
make -s O="$BUILD" "$BUILD/bin/bench-gateway" >/dev/null || exit 1
work=$(mktemp -d /tmp/stack-bench.XXXXXX)
export STACK_DIR=$work/stack BUILD_DIR=$ROOT/$BUILD NPM_PREFIX=$ROOT/build/npm
for v in REDIS_PORT PG_PORT S3_PORT GATEWAY_PORT REGISTRY_PORT PROCESSOR_PORT RULES_PORT STORE_PORT \
    OUTPUT_PORT; do
    printf -v "$v" '%s' "$(stack_free_port)"
    export "${v?}"
done
runner=
cleanup() {
    [ -n "$runner" ] && scripts/stack.sh stop >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
scripts/stack.sh run >"$work/run.log" 2>&1 </dev/null &
runner=$!
for _ in $(seq 1 900); do
    grep -q "The stack is up" "$work/run.log" && break
    kill -0 "$runner" 2>/dev/null || break
    sleep 0.2
done
if ! grep -q "The stack is up" "$work/run.log"; then
    echo "bench/stack: the stack did not come up; the end of its output:" >&2
    tail -n 20 "$work/run.log" >&2
    exit 1
fi
. "$STACK_DIR/env"
stored() { psql -qAtc "SELECT count(*) FROM events"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
batch=$(python3 -c '
import json
print(json.dumps([{"type": "payment.created", "source": "/bench", "subject": "u%d" % i,
                   "data": {"amount": i, "merchant": "m%d" % (i % 7)}} for i in range(100)]))')

n0=$(stored)
broker=$(stack_pid devkafka)
c0=$(cpu_ticks "$broker")
t0=$(date +%s%N)
"$BUILD_DIR/bin/bench-gateway" paced "$GATEWAY_PORT" "$TOKEN" $((RATE / 100)) 64 "$SECS" "$batch" \
    stack_ingest 2>"$work/gateway.err" | tee "$work/gateway.out"
t1=$(date +%s%N)
c1=$(cpu_ticks "$broker")
behind_at=$(stored)
accepted=$(awk '$2 == "stack_ingest_events_accepted" { print $3 }' "$work/gateway.out")
# caught up: every accepted event stored (then the time of the last growth), or no growth for 10 s
last=$behind_at
still=0
t2=$t1
while [ $still -lt 50 ] && [ "$((last - n0))" -lt "${accepted:-0}" ]; do
    sleep 0.2
    now=$(stored)
    if [ "$now" = "$last" ]; then
        still=$((still + 1))
    else
        still=0
        t2=$(date +%s%N)
    fi
    last=$now
done
lost=0
for port in "$GATEWAY_PORT" "$PROCESSOR_PORT" "$RULES_PORT" "$STORE_PORT" "$OUTPUT_PORT"; do
    n=$(curl -s "http://127.0.0.1:$port/readyz" | jq -r '.details.stream.records_lost // 0')
    lost=$((lost + ${n:-0}))
done
hz=$(getconf CLK_TCK)
echo "BENCH stack_ingest_asked $RATE events/s for $SECS s"
echo "BENCH stack_store_behind_when_load_ended $((accepted - (behind_at - n0))) events"
echo "BENCH stack_store_caught_up_after $(((t2 - t1) / 1000000)) ms"
echo "BENCH stack_stored $((last - n0)) events (of $accepted accepted)"
echo "BENCH stack_records_lost $lost records (target 0)"
echo "BENCH stack_devkafka_core_share $(((c1 - c0) * 100 * 1000000000 / hz / (t1 - t0))) % of one core during the load"
# the reference: kcat writing as many events, as batch lines of 100, straight to the broker
python3 -c '
import json, sys
n = int(sys.argv[1])
for i in range(n):
    print("u%d\t%s" % (i % 100, json.dumps({"type": "payment.created", "source": "/bench",
          "subject": "u%d" % (i % 100), "data": {"amount": i % 100}})))' "${accepted:-0}" >"$work/ref.tsv"
k0=$(date +%s%N)
kcat -P -b "$KAFKA_BROKERS" -t events -K $'\t' -z lz4 -X linger.ms=5 -X enable.idempotence=true \
    <"$work/ref.tsv" 2>/dev/null
k1=$(date +%s%N)
echo "BENCH kcat_produce_same_events $((accepted * 1000000000 / (k1 - k0))) events/s"
