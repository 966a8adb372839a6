#!/usr/bin/env bash
# test_gateway_ratelimit.sh <build-dir>: rate limits shared by two gateway processes through a
# Redis of the test's own (GATEWAY_RATE_LIMIT_STORE=redis, GCRA in a Lua script): with a burst of
# 10 per tenant, 10 events spread over both instances are accepted and 5 more are 429 on either
# (with Retry-After and the RateLimit headers), where local buckets would take them; another
# tenant has its own bucket. Redis killed with -9: each instance answers from its own bucket (logged,
# gateway_ratelimit_fallbacks_total counted) instead of failing requests, lets events with ids
# through without their idempotency keys (gateway_idempotency_unguarded_total, one log line a
# batch), and stays ready, /readyz naming Redis in its details.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_gateway_ratelimit.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
work=$(mktemp -d /tmp/gw-rl.XXXXXX)
rport=$(stack_free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
rpid=$!
export JWT_HS256_SECRET=ratelimit-test-secret-0123456789abcdef0123
pids=()
ports=()
cleanup() {
    kill -TERM "${pids[@]}" 2>/dev/null
    kill -KILL "$rpid" 2>/dev/null
    wait "${pids[@]}" "$rpid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
stack_wait_port "$rport" 10 || { echo "redis did not start"; exit 1; }
for i in 0 1; do
    ports[i]=$(stack_free_port)
    GATEWAY_PORT=${ports[i]} BIND_ADDR=127.0.0.1 LOG_LEVEL=warn KAFKA_BROKERS="$KAFKA_BROKERS" \
        TOPIC_EVENTS="rl-it-$$" REDIS_URL="redis://127.0.0.1:$rport/0" GATEWAY_RATE_LIMIT=1 \
        GATEWAY_RATE_BURST=10 GATEWAY_RATE_LIMIT_STORE=redis \
        "$ROOT/$BUILD/bin/gateway" >"$work/gateway-$i.log" 2>&1 </dev/null &
    pids[i]=$!
done
for i in 0 1; do
    stack_wait_port "${ports[i]}" 30 || { echo "gateway $i did not start"; cat "$work/gateway-$i.log"; exit 1; }
done
acme=$(DEVTOKEN_TENANT=acme "$ROOT/$BUILD/bin/devtoken")
globex=$(DEVTOKEN_TENANT=globex "$ROOT/$BUILD/bin/devtoken")
fail=0
post() { # post <instance> <token> [events]: prints the status; headers in $work/headers
    local body
    body=$(printf '{"type":"t","source":"/rl"}%.0s,' $(seq 1 "${3:-1}"))
    curl -s -D "$work/headers" -o "$work/body" -w '%{http_code}' -X POST \
        "http://127.0.0.1:${ports[$1]}/events" -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' -d "[${body%,}]"
}
# 6 events on instance 0 and 4 on instance 1 take the tenant's 10; a batch of 5 more is then 429
# on each (local buckets would take it on instance 1, which has 6 of its own left). Refilling at
# 1 event/s, this holds for 5 s.
codes="$(post 0 "$acme" 6) $(post 1 "$acme" 4)"
[ "$codes" = "202 202" ] || { echo "FAIL: the burst of 10 across both instances: $codes"; fail=1; }
for i in 1 0; do
    code=$(post "$i" "$acme" 5)
    if [ "$code" != 429 ]; then
        echo "FAIL: instance $i lets 5 more events of the tenant through ($code)"
        fail=1
    elif ! grep -qi '^Retry-After: [1-9]' "$work/headers" || ! grep -qi '^RateLimit: "tenant";r=[0-4];' "$work/headers"; then
        echo "FAIL: the 429 lacks Retry-After or RateLimit: $(tr -d '\r' <"$work/headers" | tr '\n' ' ')"
        fail=1
    fi
done
[ $fail = 0 ] && echo "ok: one bucket per tenant across both instances (10 accepted, then 429 on each)"
[ "$(post 1 "$globex")" = 202 ] || { echo "FAIL: another tenant has its own bucket"; fail=1; }
# Redis gone: each instance falls back to its own buckets, logged and counted
kill -KILL "$rpid"
wait "$rpid" 2>/dev/null
code=$(post 0 "$globex")
[ "$code" = 202 ] || { echo "FAIL: with Redis down, a request under the local limit is $code: $(cat "$work/body")"; fail=1; }
fallbacks=$(curl -s "http://127.0.0.1:${ports[0]}/metrics" | awk '/^gateway_ratelimit_fallbacks_total / { print $2 }')
[ "${fallbacks:-0}" -ge 1 ] || { echo "FAIL: fallbacks not counted (${fallbacks:-none})"; fail=1; }
grep -q ratelimit_fallback "$work/gateway-0.log" || { echo "FAIL: the fallback is not logged"; fail=1; }
[ $fail = 0 ] && echo "ok: with Redis killed, the local bucket decides (logged, $fallbacks counted)"
# Idempotency keys (kept in the same Redis) are skipped, not a reason to refuse events: the events
# go through unguarded (counted, one log line for the batch), and the instance stays ready (a Redis
# outage must not take every gateway out of its load balancer); /readyz names what is missing.
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST "http://127.0.0.1:${ports[0]}/events" \
    -H "Authorization: Bearer $globex" -H 'Content-Type: application/json' \
    -d '[{"type":"t","source":"/rl","id":"u-1"},{"type":"t","source":"/rl","id":"u-2"},{"type":"t","source":"/rl","id":"u-3"}]')
[ "$code" = 202 ] || { echo "FAIL: with Redis down, events with ids are $code: $(cat "$work/body")"; fail=1; }
unguarded=$(curl -s "http://127.0.0.1:${ports[0]}/metrics" | awk '/^gateway_idempotency_unguarded_total / { print $2 }')
[ "${unguarded:-0}" = 3 ] || { echo "FAIL: unguarded events counted ${unguarded:-none}, not 3"; fail=1; }
lines=$(grep -c '"event":"idempotency_unavailable"' "$work/gateway-0.log")
[ "$lines" = 1 ] || { echo "FAIL: $lines idempotency_unavailable lines for one batch of 3"; fail=1; }
ready=$(curl -s -w ' %{http_code}' "http://127.0.0.1:${ports[0]}/readyz")
python3 -c 'import json, sys; body, code = sys.argv[1].rsplit(" ", 1); r = json.loads(body)["details"]["redis"]; sys.exit(not (code == "200" and r["available"] is False and r["error"]))' "$ready" ||
    { echo "FAIL: with Redis down /readyz should be 200 naming Redis: $ready"; fail=1; }
[ $fail = 0 ] && echo "ok: with Redis killed, events with ids go through unguarded ($unguarded counted, one line) and the gateway stays ready"
[ $fail = 0 ] && echo "gateway rate limits: ok"
exit $fail
