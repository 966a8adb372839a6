#!/usr/bin/env bash
# test_confluent_client.sh <build-dir>: runs confluent_client.js, a Confluent-protocol client
# from the npm registry (@kafkajs/confluent-schema-registry, installed once into build/npm-client),
# against a registry process over the harness's PostgreSQL (DATABASE_URL from run.sh), with the
# harness's Basic user (REGISTRY_BASIC_AUTH_FILE and REGISTRY_USER_INFO from stack-lib.sh).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_confluent_client.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
PREFIX="$ROOT/build/npm-client"
stack_npm_client "$PREFIX" @kafkajs/confluent-schema-registry@3.9.0 || exit 1
port=$(stack_free_port)
REGISTRY_PORT=$port BIND_ADDR=127.0.0.1 LOG_LEVEL=warn "$ROOT/$BUILD/bin/registry" \
    >"$STACK_DIR/logs/registry-client.log" 2>&1 </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' EXIT
stack_wait_port "$port" 30 || { echo "registry did not start"; exit 1; }
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; do
    sleep 0.1
done
REGISTRY_URL="http://127.0.0.1:$port" NODE_PATH="$PREFIX/node_modules" \
    node "$ROOT/tests/integration/confluent_client.js"
