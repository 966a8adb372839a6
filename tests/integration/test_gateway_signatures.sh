#!/usr/bin/env bash
# test_gateway_signatures.sh <build-dir>: producer signatures on two gateway processes sharing the
# harness's PostgreSQL and broker (sig_client.js): keys made with OpenSSL's command line
# (Ed25519, P-256, and an RSA key the keys API must refuse), registered over /keys, events signed
# by Node's crypto and by `openssl dgst -sign`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_gateway_signatures.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
work=$(mktemp -d /tmp/gw-sig.XXXXXX)
topic="sig-it-$$"
export JWT_HS256_SECRET=signature-test-secret-0123456789abcdef0123
openssl genpkey -algorithm ed25519 -out "$work/ed.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/ed2.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/p256.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
for k in ed ed2 p256 rsa; do
    openssl pkey -in "$work/$k.pem" -pubout -out "$work/$k.pub.pem" || { echo "FAIL: key $k"; exit 1; }
done
DEVTOKEN_TENANT=acme "$ROOT/$BUILD/bin/devtoken" >"$work/token"
DEVTOKEN_TENANT=acme DEVTOKEN_SCOPE='events:write gateway:admin' "$ROOT/$BUILD/bin/devtoken" >"$work/admin-token"
pids=()
ports=()
for i in 0 1; do
    ports[i]=$(stack_free_port)
    GATEWAY_PORT=${ports[i]} BIND_ADDR=127.0.0.1 LOG_LEVEL=warn KAFKA_BROKERS="$KAFKA_BROKERS" \
        TOPIC_EVENTS="$topic" DATABASE_URL="$DATABASE_URL" \
        "$ROOT/$BUILD/bin/gateway" >"$work/gateway-$i.log" 2>&1 </dev/null &
    pids[i]=$!
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
for i in 0 1; do
    stack_wait_port "${ports[i]}" 30 || { echo "gateway $i did not start"; cat "$work/gateway-$i.log"; exit 1; }
done
node "$ROOT/tests/integration/sig_client.js" "http://127.0.0.1:${ports[0]}" \
    "http://127.0.0.1:${ports[1]}" "$KAFKA_BROKERS" "$topic" "$work" ||
    { tail -n 20 "$work/gateway-0.log" "$work/gateway-1.log"; exit 1; }
