#!/usr/bin/env bash
# bench/signatures: the cost of producer signatures on single-event ingest (wrk, keep-alive,
# 128 connections). One gateway (release build, HS256 auth, a signing key from GATEWAY_KEYS_DIR
# that requires signatures for source /signed) takes, in three interleaved rounds: unsigned events
# (the reference), the same signed event over and over (a retried event: the verification cache
# answers), and 20,000 distinct signed events in turn (more than the cache's 4,096 slots: nearly
# every one canonicalized and verified with Ed25519). Prints each rate (the median of its three)
# and the signed rates as a share of the unsigned one (the median of the rounds' shares).
# Usage: run.sh <build-dir> [seconds]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
SECS=${2:-5}
. scripts/stack-lib.sh
export STACK_DIR
STACK_DIR=$(mktemp -d /tmp/eventstack-bench.XXXXXX)
export BUILD_DIR=$ROOT/$BUILD GATEWAY_PORT DEVKAFKA_PARTITIONS=16
STACK_SERVICES=(gateway)
cleanup() {
    stack_stop_all
    rm -rf "$STACK_DIR"
}
trap cleanup EXIT
stack_init
GATEWAY_PORT=$(stack_free_port)
stack_start_kafka || exit 1
openssl genpkey -algorithm ed25519 -out "$STACK_DIR/key.pem" 2>/dev/null
mkdir -p "$STACK_DIR/keys"
jq -n --rawfile pem <(openssl pkey -in "$STACK_DIR/key.pem" -pubout) \
    '{name: "bench-key", tenant: "dev", source: "/signed", public_key: $pem, require: true}' \
    >"$STACK_DIR/keys/bench-key.json"
export JWT_HS256_SECRET=bench-secret-0123456789abcdef0123456789 BIND_ADDR=127.0.0.1 LOG_LEVEL=warn
export KAFKA_FETCH_WAIT_MAX_MS=10 KAFKA_LINGER_MS=2
GATEWAY_KEYS_DIR="$STACK_DIR/keys" stack_spawn gateway "$BUILD_DIR/bin/gateway"
stack_wait_port "$GATEWAY_PORT" 30 || exit 1
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATEWAY_PORT/readyz")" = 200 ]; do
    sleep 0.1
done
TOKEN=$("$BUILD_DIR/bin/devtoken")
EVENT='{"type":"payment.created","source":"/signed","subject":"order-7","data":{"amount":1500,"currency":"EUR"}}'
UNSIGNED=${EVENT/\/signed/\/plain}
node bench/signatures/sign_events.js "$STACK_DIR/key.pem" bench-key 20000 "$EVENT" >"$STACK_DIR/signed.ndjson"
SIGNED_ONE=$(head -n 1 "$STACK_DIR/signed.ndjson")
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$GATEWAY_PORT/events" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$SIGNED_ONE")" = 202 ] ||
    { echo "bench: the gateway refuses the signed event" >&2; exit 1; }
script() { # script <file> <body>: a wrk script posting one body
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
        printf 'wrk.body = [==[%s]==]\n' "$2"
    } >"$1"
}
script "$STACK_DIR/unsigned.lua" "$UNSIGNED"
script "$STACK_DIR/cached.lua" "$SIGNED_ONE"
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    echo 'local bodies, n = {}, 0'
    echo "for line in io.lines(\"$STACK_DIR/signed.ndjson\") do bodies[#bodies + 1] = line end"
    echo 'request = function()'
    echo '  n = n % #bodies + 1'
    echo '  return wrk.format(nil, nil, nil, bodies[n])'
    echo 'end'
} >"$STACK_DIR/distinct.lua"
measure() { # measure <script>: "<req/s> <non-2xx>"
    wrk -t1 -c128 -d"${SECS}s" --latency -s "$1" "http://127.0.0.1:$GATEWAY_PORT/events" 2>&1 |
        awk '/Requests\/sec:/ { rps = $2 } /Non-2xx/ { bad = $NF } END { printf "%d %d\n", rps, bad + 0 }'
}
SECS=2 measure "$STACK_DIR/unsigned.lua" >/dev/null # warm-up
rounds=$(for _ in 1 2 3; do
    set -- $(measure "$STACK_DIR/unsigned.lua")
    u=$1 bad=$2
    set -- $(measure "$STACK_DIR/cached.lua")
    c=$1 bad=$((bad + $2))
    set -- $(measure "$STACK_DIR/distinct.lua")
    d=$1 bad=$((bad + $2))
    echo "$u $c $d $((c * 100 / (u > 0 ? u : 1))) $((d * 100 / (u > 0 ? u : 1))) $bad"
done)
col() { sort -n -k"$1","$1" <<<"$rounds" | sed -n 2p | cut -d' ' -f"$1"; }
echo "BENCH gateway_unsigned_single_events_per_sec $(col 1) events/s"
echo "BENCH gateway_signed_single_events_per_sec $(col 2) events/s"
echo "BENCH gateway_signed_distinct_single_events_per_sec $(col 3) events/s"
echo "BENCH gateway_signed_share_of_unsigned $(col 4) %"
echo "BENCH gateway_signed_distinct_share_of_unsigned $(col 5) %"
echo "BENCH gateway_signed_target_share_of_unsigned 80 %"
bad=$(awk '{ s += $6 } END { print s + 0 }' <<<"$rounds")
[ "$bad" = 0 ] || echo "bench: $bad non-2xx answers" >&2
