#!/usr/bin/env bash
# bench/gateway: ingest throughput and latency of POST /events with keep-alive connections (wrk):
# single events (saturated, and at low concurrency for latency), latency at half the saturated
# rate (bench-gateway paced: open loop, fixed rate), batches of 100, WebSocket ingest (bench-gateway
# ws: acks per message with a window of messages in flight per connection), next to kcat
# producing the same events straight to the same development broker (the reference: the records
# the gateway wrote, with its producer settings, without HTTP, auth, validation or per-event
# answers). Starts devkafka and the gateway (release build) with HS256 auth on free ports.
# Usage: run.sh <build-dir> [seconds]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
SECS=${2:-5}
. scripts/stack-lib.sh
make -s O="$BUILD" "$BUILD/bin/bench-gateway" >/dev/null || exit 1
export STACK_DIR
STACK_DIR=$(mktemp -d /tmp/eventstack-bench.XXXXXX)
export BUILD_DIR=$ROOT/$BUILD GATEWAY_PORT DEVKAFKA_PARTITIONS=16
STACK_SERVICES=(gateway gateway-idem)
cleanup() {
    stack_stop_all
    rm -rf "$STACK_DIR"
}
trap cleanup EXIT
stack_init
GATEWAY_PORT=$(stack_free_port)
stack_start_kafka || exit 1
REDIS_PORT=$(stack_free_port)
stack_start_redis || exit 1
export JWT_HS256_SECRET=bench-secret-0123456789abcdef0123456789 BIND_ADDR=127.0.0.1 LOG_LEVEL=warn
export KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_LINGER_MS=2
stack_spawn gateway "$BUILD_DIR/bin/gateway"
stack_wait_port "$GATEWAY_PORT" 30 || exit 1
# a second gateway with idempotency keys in Redis (as `make run` configures it)
IDEM_PORT=$(stack_free_port)
stack_spawn gateway-idem env GATEWAY_PORT="$IDEM_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    "$BUILD_DIR/bin/gateway"
stack_wait_port "$IDEM_PORT" 30 || exit 1
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATEWAY_PORT/readyz")" = 200 ]; do
    sleep 0.1
done
TOKEN=$("$BUILD_DIR/bin/devtoken")
EVENT='{"type":"payment.created","source":"/bench","subject":"order-7","data":{"amount":1500,"currency":"EUR"}}'
single="$STACK_DIR/single.lua"
batch="$STACK_DIR/batch.lua"
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    printf 'wrk.body = [==[%s]==]\n' "$EVENT"
} >"$single"
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    printf 'wrk.body = [==[['
    for i in $(seq 1 100); do
        printf '%s%s' "$EVENT" "$([ "$i" -lt 100 ] && echo ,)"
    done
    printf ']]==]\n'
} >"$batch"

measure() { # measure <connections> <script>: "<req/s> <p50 ms> <p99 ms> <non-2xx>"
    wrk -t1 -c"$1" -d"${SECS}s" --latency -s "$2" "http://127.0.0.1:$GATEWAY_PORT/events" 2>&1 |
        awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                             if (v ~ /s$/) return v * 1000; return v }
             /Requests\/sec:/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
             /Non-2xx/ { bad = $NF } END { printf "%d %.3f %.3f %d\n", rps, p50, p99, bad + 0 }'
}

# This machine's speed moves by a third between runs: saturated throughputs are the median of
# three runs (the batch and kcat ones below too).
median3() { # median3 <command...>: runs it three times; prints the line with the median first field
    for _ in 1 2 3; do "$@"; done | sort -n | sed -n 2p
}

measure 8 "$single" >/dev/null # warm-up
set -- $(median3 measure 128 "$single")
echo "BENCH gateway_single_events_per_sec $1 events/s"
echo "BENCH gateway_single_p50_saturated $2 ms"
echo "BENCH gateway_single_p99_saturated $3 ms"
[ "$4" = 0 ] || echo "bench: $4 non-2xx answers" >&2
saturated=$1
half=$((saturated / 2))
"$BUILD_DIR/bin/bench-gateway" paced "$GATEWAY_PORT" "$TOKEN" "$half" 128 "$SECS" "$EVENT" \
    gateway_single_half_rate
echo "BENCH gateway_single_half_rate_target_rate $half events/s"
set -- $(measure 4 "$single")
echo "BENCH gateway_single_low_load_per_sec $1 events/s"
echo "BENCH gateway_single_p50_low_load $2 ms"
echo "BENCH gateway_single_p99_low_load $3 ms"
# 24 connections: each waits for its batch's acks (the producer lingers 2 ms), so 8 left the
# gateway idle between batches (the single-event figure uses 128).
SECS=1 measure 24 "$batch" >/dev/null # warm-up (and the record the kcat reference sends)
# the reference: kcat producing the same events to the same broker, as the gateway produced them
# (one record read back from the topic: its key, value and headers), with the gateway's producer
# settings (idempotent, acks=all, lz4, linger 2 ms)
n=500000
record=$(kcat -C -b "$KAFKA_BROKERS" -t events -o -1 -c 1 -e -f '%k\t%s\n%h\n' 2>/dev/null)
[ -n "$record" ] || echo "bench: no record could be read back from the topic" >&2
headers=()
IFS=, read -ra hs <<<"$(sed -n 2p <<<"$record")"
for h in "${hs[@]}"; do headers+=(-H "$h"); done
record=$(sed -n 1p <<<"$record")
yes "$record" | head -n "$n" >"$STACK_DIR/records.txt"
kcat_rate() { # kcat_rate <file> <kcat options...>: events/s
    local file=$1 start end
    shift
    start=$(date +%s.%N)
    if ! kcat -P -b "$KAFKA_BROKERS" -t events -X linger.ms=2 -X enable.idempotence=true "$@" \
        -l "$file" 2>"$STACK_DIR/kcat.log"; then
        echo "bench: kcat failed: $(tail -n 1 "$STACK_DIR/kcat.log")" >&2
        echo 0
        return
    fi
    end=$(date +%s.%N)
    awk -v n="$n" -v a="$start" -v b="$end" 'BEGIN { printf "%d\n", n / (b - a) }'
}
# Three pairs: the gateway's batches for SECS seconds, then kcat's n records. Each rate is the
# median of its three; the share is the median of the pairs' shares (this machine's speed drifts
# by a third between runs, less within a pair).
pairs=$(for _ in 1 2 3; do
    set -- $(measure 24 "$batch")
    k=$(kcat_rate "$STACK_DIR/records.txt" -z lz4 -K $'\t' "${headers[@]}")
    echo "$(($1 * 100)) $2 $3 $k $(($1 * 100 * 100 / (k > 0 ? k : 1)))"
done)
set -- $(sort -n -k1,1 <<<"$pairs" | sed -n 2p)
echo "BENCH gateway_batch100_events_per_sec $1 events/s"
echo "BENCH gateway_batch100_p50 $2 ms"
echo "BENCH gateway_batch100_p99 $3 ms"
echo "BENCH kcat_reference_events_per_sec $(sort -n -k4,4 <<<"$pairs" | sed -n 2p | cut -d' ' -f4) events/s"
echo "BENCH gateway_batch100_share_of_kcat $(sort -n -k5,5 <<<"$pairs" | sed -n 2p | cut -d' ' -f5) %"
"$BUILD_DIR/bin/bench-gateway" ws "$GATEWAY_PORT" "$TOKEN" 16 64 "$SECS" "$EVENT" gateway_ws
# WebSocket messages of 100 events each
"$BUILD_DIR/bin/bench-gateway" ws "$GATEWAY_PORT" "$TOKEN" 8 4 "$SECS" \
    "[$(for i in $(seq 1 100); do printf '%s%s' "$EVENT" "$([ "$i" -lt 100 ] && echo ,)"; done)]" \
    gateway_ws_batch100
# batches of 100 events with client ids through the gateway with idempotency keys in Redis: each
# request's ids are fresh (wrk's request() builds the body), so every event is claimed, produced
# and settled
idem="$STACK_DIR/idem.lua"
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    echo 'local n, prefix = 0, tostring(os.time()) .. tostring(math.random(1e9))'
    echo 'request = function()'
    echo '  n = n + 1'
    echo '  local parts = {}'
    echo '  for i = 1, 100 do'
    printf '    parts[i] = string.format([==[{"id":"%%s-%%d-%%d","type":"payment.created","source":"/bench","subject":"order-7","data":{"amount":1500,"currency":"EUR"}}]==], prefix, n, i)\n'
    echo '  end'
    echo '  return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")'
    echo 'end'
} >"$idem"
GATEWAY_PORT=$IDEM_PORT SECS=1 measure 8 "$idem" >/dev/null # warm-up: metadata, connections
set -- $(GATEWAY_PORT=$IDEM_PORT measure 8 "$idem")
echo "BENCH gateway_batch100_idempotent_events_per_sec $(($1 * 100)) events/s"
echo "BENCH gateway_batch100_idempotent_p99 $3 ms"
[ "$4" = 0 ] || echo "bench: $4 non-2xx answers with idempotency" >&2
# for information: the client's event lines as they are (smaller, no key, headers or compression)
yes "$EVENT" | head -n "$n" >"$STACK_DIR/events.ndjson"
echo "BENCH kcat_raw_lines_events_per_sec $(kcat_rate "$STACK_DIR/events.ndjson") events/s"
echo "BENCH gateway_target_single_events_per_sec 30000 events/s"
echo "BENCH gateway_target_half_rate_p99 10 ms"
echo "BENCH gateway_target_batch_events_per_sec 300000 events/s"
echo "BENCH gateway_target_batch_share_of_kcat 50 %"
