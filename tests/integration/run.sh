#!/usr/bin/env bash
# run.sh <build-dir> [pattern]: starts real redis-server (one, and a Redis Cluster of three),
# PostgreSQL, devkafka and s3rver on free loopback ports in a scratch directory, runs every
# integration test (binaries and scripts) against them with the addresses in the environment, two
# at a time and each with a database of its own (below), and always tears everything down (trap
# EXIT), even on failure.
# With a pattern, only the tests whose file name contains it run (e.g. `processor_api`).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: run.sh <build-dir> [pattern]}
ONLY=${2:-}
. scripts/stack-lib.sh
. scripts/test-lib.sh

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
# alongside <name> <command...>: runs a test in the background, its output kept and shown when it
# ends (below).
alongside() {
    local name=$1
    shift
    (
        t0=$SECONDS
        "$@" </dev/null >"$STACK_DIR/$name.out" 2>&1
        r=$?
        echo "-- $name: $((SECONDS - t0)) s" >>"$STACK_DIR/$name.out"
        exit $r
    ) &
    ALONGSIDE+=("$!:$name")
}
# Tests that start every server they use run alongside the others (beside the two at a time
# below): they wait on timers more than they compute (the fault test kept the two
# cores 38 % busy; the Redis failovers wait for their sentinels and replicas). A name without .sh
# is a test binary.
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
    alongside "$name" "$t" "${args[@]}"
done

# it_one <test>: runs one test (a binary with --jobs=2, a script with the build directory) with
# a PostgreSQL database of its own (it_<name>), so no daemon it starts sees the definitions,
# schemas or tables of a test running beside it; Redis keys, topics and consumer groups are
# named per test already.
it_one() {
    local t=$1 db
    db=it_$(basename "$t" .sh)
    if ! psql "$DATABASE_URL" -qAt -c "CREATE DATABASE $db" >/dev/null; then
        echo "integration: could not create the database $db" >&2
        return 1
    fi
    export DATABASE_URL=${DATABASE_URL/\/events\?//$db?}
    if [[ "$t" == *.sh ]]; then
        "$t" "$BUILD"
    else
        "$t" --jobs=2
    fi
}
# The others run two at a time (scripts/test-lib.sh): most of each is waiting (for consumer
# groups to rebalance, windows to close, timeouts to pass), so two share the two cores. The
# longest go first, each of the processor's scripts (a processor busy on a core) beside a test
# binary that mostly waits: two of those scripts side by side took half as long again.
FIRST="test_processor_query.sh test_stream test_processor_api.sh test_gateway
    test_processor_cluster.sh test_stream_send test_processor_dead.sh test_registry"
TESTS=()
for t in $FIRST; do
    [[ "$t" == *.sh ]] && t=tests/integration/$t || t=$BUILD/tests/integration/$t
    [ -x "$t" ] && [[ "$(basename "$t")" == *"$ONLY"* ]] && TESTS+=("$t")
done
for t in tests/integration/test_*.sh "$BUILD"/tests/integration/test_*; do
    [ -x "$t" ] && [[ "$(basename "$t")" == *"$ONLY"* ]] || continue
    [[ " $SEPARATE $FIRST " == *[[:space:]]"$(basename "$t")"[[:space:]]* ]] || TESTS+=("$t")
done
OUT=$STACK_DIR/out
mkdir -p "$OUT"
failed=()
run_two integration it_one {}
[ ${#failed[@]} = 0 ] || rc=1
for job in "${ALONGSIDE[@]}"; do
    name=${job#*:}
    echo "-- $name (alongside the others)"
    if ! wait "${job%%:*}"; then
        rc=1
        why "integration/$name" "$STACK_DIR/$name.out"
    fi
    cat "$STACK_DIR/$name.out"
done
ALONGSIDE=()
[ ${#failed[@]} = 0 ] || echo "integration: failed: ${failed[*]}"
exit $rc
