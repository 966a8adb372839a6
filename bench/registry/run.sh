#!/usr/bin/env bash
# bench/registry: schema registry lookups per second with keep-alive connections (wrk), and
# p50/p99 latency, for GET /schemas/ids/{id} and POST /subjects/{s} (the two calls serializers
# make), next to GET /healthz on the same server as the reference (the HTTP layer's ceiling).
# Starts its own PostgreSQL and registry (release build) on free ports, measures with the
# in-process cache and then without it (REGISTRY_CACHE_TTL=0); target: 20,000 lookups/s with p99
# under 5 ms. Usage: run.sh <build-dir> [seconds] [connections]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
SECS=${2:-5}
CONNS=${3:-8}
. scripts/stack-lib.sh
export STACK_DIR
STACK_DIR=$(mktemp -d /tmp/eventstack-bench.XXXXXX)
export BUILD_DIR=$ROOT/$BUILD STACK_FAST=1 PG_PORT REGISTRY_PORT
PG_PORT=$(stack_free_port)
REGISTRY_PORT=$(stack_free_port)
STACK_SERVICES=(registry)
cleanup() {
    stack_stop_all
    rm -rf "$STACK_DIR"
}
trap cleanup EXIT
stack_init
stack_start_pg || exit 1
REDIS_PORT=0 S3_PORT=0 GATEWAY_PORT=0 PROCESSOR_PORT=0 RULES_PORT=0 STORE_PORT=0 OUTPUT_PORT=0
S3_BUCKET=x stack_export_env
LOG_LEVEL=warn stack_spawn registry "$BUILD_DIR/bin/registry"
stack_wait_ready 60 || exit 1
R="http://127.0.0.1:$REGISTRY_PORT"
SCHEMA='{"schema":"{\"type\":\"record\",\"name\":\"Payment\",\"namespace\":\"shop\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"amount\",\"type\":\"long\"},{\"name\":\"currency\",\"type\":\"string\",\"default\":\"EUR\"}]}"}'
id=$(curl -s -X POST "$R/subjects/payments-value/versions" -u "$REGISTRY_USER_INFO" \
    -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$SCHEMA" | sed 's/[^0-9]//g')
# every request authenticates as Confluent clients do (HTTP Basic, REGISTRY_USER_INFO)
AUTH="Basic $(printf %s "$REGISTRY_USER_INFO" | base64 -w0)"
lua="$STACK_DIR/lookup.lua"
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/vnd.schemaregistry.v1+json"'
    printf 'wrk.body = [==[%s]==]\n' "$SCHEMA"
} >"$lua"

# Runs wrk and prints "<req/s> <p50 ms> <p99 ms> <non-2xx>".
measure() {
    wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: $AUTH" "$@" 2>&1 | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                         if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        END { printf "%d %.3f %.3f %d\n", rps, p50, p99, bad + 0 }'
}

report() { # report <name> <measure output>
    set -- "$1" $2
    echo "BENCH $1_per_sec $2 requests/s"
    echo "BENCH $1_p50 $3 ms"
    echo "BENCH $1_p99 $4 ms"
    [ "$5" = 0 ] || echo "bench: $1 had $5 non-2xx answers" >&2
}

measure "$R/schemas/ids/$id" >/dev/null # warm-up (and the cache)
report registry_schema_by_id "$(measure "$R/schemas/ids/$id")"
report registry_lookup "$(measure -s "$lua" "$R/subjects/payments-value")"
report registry_healthz_reference "$(measure "$R/healthz")"
# the same without the in-process cache: every answer from PostgreSQL
stack_stop_one registry TERM 20
LOG_LEVEL=warn REGISTRY_CACHE_TTL=0 stack_spawn registry "$BUILD_DIR/bin/registry"
stack_wait_ready 60 || exit 1
report registry_schema_by_id_uncached "$(measure "$R/schemas/ids/$id")"
report registry_lookup_uncached "$(measure -s "$lua" "$R/subjects/payments-value")"
echo "BENCH registry_target_per_sec 20000 requests/s"
echo "BENCH registry_target_p99 5 ms"
