#!/usr/bin/env bash
# run.sh <build-dir> [pattern]: starts real redis-server (one, and a Redis Cluster of three),
# PostgreSQL, devkafka and s3rver on free loopback ports in a scratch directory, runs every
# integration test binary against them with the addresses in the environment, and always tears
# everything down (trap EXIT), even on failure.
# With a pattern, only the tests whose file name contains it run (e.g. `processor_api`).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: run.sh <build-dir> [pattern]}
ONLY=${2:-}
. scripts/stack-lib.sh

export STACK_DIR
STACK_DIR=$(mktemp -d /tmp/eventstack-it.XXXXXX)
export BUILD_DIR=$ROOT/$BUILD NPM_PREFIX=$ROOT/build/npm STACK_FAST=1 DATABASE_URL
export REDIS_PORT PG_PORT S3_PORT S3_BUCKET=it-bucket DEVKAFKA_PARTITIONS=4
REDIS_PORT=$(stack_free_port)
PG_PORT=$(stack_free_port)
S3_PORT=$(stack_free_port)
REGISTRY_PORT=0 GATEWAY_PORT=0 PROCESSOR_PORT=0 RULES_PORT=0 STORE_PORT=0 OUTPUT_PORT=0

ALONGSIDE=() # pid:name of the tests running alongside the others (below)
cleanup() {
    for job in "${ALONGSIDE[@]}"; do
        pkill -TERM -P "${job%%:*}" 2>/dev/null # the test, then the subshell timing it
        kill -TERM "${job%%:*}" 2>/dev/null
    done
    stack_stop_all
    rm -rf "$STACK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stack_init
if ! stack_start_infra; then
    echo "integration: could not start the infrastructure" >&2
    exit 1
fi
if ! stack_start_redis_cluster; then
    echo "integration: could not start the Redis Cluster" >&2
    exit 1
fi
echo "integration: redis :$REDIS_PORT (a cluster: $REDIS_CLUSTER_PORTS), postgres :$PG_PORT, kafka $KAFKA_BROKERS, s3 :$S3_PORT"

# The S3 server answers: the cold tier's tests build on this.
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/")" != 200 ]; then
    echo "integration: s3rver does not answer at $S3_ENDPOINT" >&2
    exit 1
fi

rc=0
# Tests that start every server they use (and no daemon that reads the shared definitions) run
# alongside the others: they wait on timers more than they compute (the fault test kept the two
# cores 38 % busy; the Redis failovers wait for their sentinels and replicas). Their output is
# shown when they end. A name without .sh is a test binary.
SEPARATE="test_processor_faults.sh test_redis_sentinel test_redis_failover"
for name in $SEPARATE; do
    if [[ "$name" == *.sh ]]; then
        t=tests/integration/$name
        args=("$BUILD")
    else
        t=$BUILD/tests/integration/$name
        args=(--jobs=1)
    fi
    [ -x "$t" ] && [[ "$name" == *"$ONLY"* ]] || continue
    (
        t0=$SECONDS
        "$t" "${args[@]}" </dev/null >"$STACK_DIR/$name.out" 2>&1
        r=$?
        echo "-- $name: $((SECONDS - t0)) s" >>"$STACK_DIR/$name.out"
        exit $r
    ) &
    ALONGSIDE+=("$!:$name")
done
for t in "$BUILD"/tests/integration/test_*; do
    [ -x "$t" ] && [[ "$(basename "$t")" == *"$ONLY"* ]] || continue
    [[ " $SEPARATE " == *" $(basename "$t") "* ]] && continue
    echo "-- $(basename "$t")"
    t0=$SECONDS
    if ! "$t" --jobs=2 </dev/null; then
        rc=1
    fi
    echo "-- $(basename "$t"): $((SECONDS - t0)) s"
done
for t in tests/integration/test_*.sh; do
    [ -x "$t" ] && [[ "$(basename "$t")" == *"$ONLY"* ]] || continue
    [[ " $SEPARATE " == *" $(basename "$t") "* ]] && continue
    echo "-- $(basename "$t")"
    t0=$SECONDS
    if ! "$t" "$BUILD" </dev/null; then
        rc=1
    fi
    echo "-- $(basename "$t"): $((SECONDS - t0)) s"
done
for job in "${ALONGSIDE[@]}"; do
    name=${job#*:}
    echo "-- $name (alongside the others)"
    if ! wait "${job%%:*}"; then
        rc=1
    fi
    cat "$STACK_DIR/$name.out"
done
ALONGSIDE=()
exit $rc
