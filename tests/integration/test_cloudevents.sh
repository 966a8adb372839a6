#!/usr/bin/env bash
# test_cloudevents.sh <build-dir>: the CloudEvents JavaScript SDK (npm package cloudevents,
# installed once into build/npm-client) against the gateway binary over the harness's broker:
# HTTP binary and structured modes in, the Kafka binding (structured mode, read by its
# content-type header) out (cloudevents_client.js).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_cloudevents.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
PREFIX="$ROOT/build/npm-client"
stack_npm_client "$PREFIX" cloudevents@8.0.3 || exit 1
work=$(mktemp -d /tmp/gw-ce.XXXXXX)
port=$(stack_free_port)
topic="ce-it-$$"
GATEWAY_PORT=$port BIND_ADDR=127.0.0.1 LOG_LEVEL=warn GATEWAY_AUTH_DISABLED=true \
    KAFKA_BROKERS="$KAFKA_BROKERS" TOPIC_EVENTS="$topic" \
    "$ROOT/$BUILD/bin/gateway" >"$work/gateway.log" 2>&1 </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
stack_wait_port "$port" 30 || { echo "gateway did not start"; cat "$work/gateway.log"; exit 1; }
NODE_PATH="$PREFIX/node_modules" node "$ROOT/tests/integration/cloudevents_client.js" \
    "http://127.0.0.1:$port" "$KAFKA_BROKERS" "$topic" || { tail -n 20 "$work/gateway.log"; exit 1; }
