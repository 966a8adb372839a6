#!/usr/bin/env bash
# run.sh <build-dir>: the end-to-end test over the whole stack. Starts devkafka, redis,
# PostgreSQL, s3rver and the six daemons (from <build-dir>, normally the sanitizer build) on free
# loopback ports in a scratch directory, POSTs 1,000 events through the gateway (100 of them of a
# type a rule matches), and checks that:
#   - every POST was answered 202 with the event's id,
#   - the store's table holds exactly those 1,000 ids,
#   - the output's derived_events hold, from the shipped example pipeline (config/pipelines:
#     events per type in 10 s windows, re-keyed through its repartition topic), exactly one
#     result per type and window with the exact count, the exact distinct subjects and a p99
#     within 1 % of the true one, once late "tick" events move the watermark past the last window,
#     and the windows query answers the window each tick opened from the checkpoints in Redis,
#   - the output's alerts hold exactly one alert per matching event and no others,
#   - bad requests get the right status (401, 400, 413, 415), data that does not match the schema
#     registered for its type gets 422 naming the field, and validated events carry schemaid,
#   - every metric the Grafana dashboard and the alert rules query is exported by a daemon,
#   - every daemon exits 0 on SIGTERM (no sanitizer report) and no process is left behind.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: run.sh <build-dir>}
. scripts/stack-lib.sh

E2E_NAME=e2e
. tests/e2e/lib.sh
export S3_BUCKET=e2e
export RULES_FILE=$STACK_DIR/rules.json LOG_LEVEL=info
export PROCESSOR_PIPELINES_DIR=$ROOT/config/pipelines
cat >"$RULES_FILE" <<'EOF'
{"rules": [
  {"id": "payment-failed", "condition": "type == 'payment.failed' && data.n % 10 == 0"},
  {"id": "never", "types": ["no.such.type"]}
]}
EOF

e2e_start

# --- bad requests
code() { curl -s -o "$STACK_DIR/last_body" -w '%{http_code}' "$@"; }
[ "$(code -X POST "$URL" -H 'Content-Type: application/json' -d '{"type":"t","source":"/s"}')" = 401 ] ||
    fail "no token should be 401"
EXPIRED=$(DEVTOKEN_EXP_OFFSET=-90000 "$BUILD_DIR/bin/devtoken")
[ "$(code -X POST "$URL" -H "Authorization: Bearer $EXPIRED" -H 'Content-Type: application/json' \
    -d '{"type":"t","source":"/s"}')" = 401 ] || fail "expired token should be 401"
grep -q expired "$STACK_DIR/last_body" || fail "401 body should say expired: $(cat "$STACK_DIR/last_body")"
AUTH=(-H "Authorization: Bearer $TOKEN")
[ "$(code -X POST "$URL" "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"type":"t"')" = 400 ] ||
    fail "truncated JSON should be 400"
[ "$(code -X POST "$URL" "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"source":"/s"}')" = 400 ] ||
    fail "missing type should be 400"
grep -q '"field":"/type"' "$STACK_DIR/last_body" || fail "400 should name /type: $(cat "$STACK_DIR/last_body")"
[ "$(code -X POST "$URL" "${AUTH[@]}" -H 'Content-Type: text/plain' -d '{"type":"t","source":"/s"}')" = 415 ] ||
    fail "text/plain should be 415"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$STACK_DIR/big.json"
[ "$(code -X POST "$URL" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$STACK_DIR/big.json")" = 413 ] ||
    fail "a body over 1 MiB should be 413"

# --- schema validation through the registry: order.created's data must have an integer n >= 0
SUBJECT_SCHEMA='{"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0}}}"}'
[ "$(code -X POST "http://127.0.0.1:$REGISTRY_PORT/subjects/order.created/versions" -u "$REGISTRY_USER_INFO" \
    -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$SUBJECT_SCHEMA")" = 200 ] ||
    fail "registering the order.created schema: $(cat "$STACK_DIR/last_body")"
SCHEMA_ID=$(sed 's/[^0-9]//g' "$STACK_DIR/last_body")
[ "$(code -X POST "$URL" "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d '{"type":"order.created","source":"/e2e-bad","data":{"n":-5}}')" = 422 ] ||
    fail "data against the registered schema should be 422: $(cat "$STACK_DIR/last_body")"
grep -q '/data/n: must be >= 0' "$STACK_DIR/last_body" || fail "422 should point at /data/n: $(cat "$STACK_DIR/last_body")"

# --- 1,000 events: 10 s windows from a fixed base, 3 types; every 10th is payment.failed
BASE=1767225600 # 2026-01-01T00:00:00Z
CFG="$STACK_DIR/requests.curl"
EXPECTED="$STACK_DIR/expected"
: >"$CFG"
: >"$EXPECTED"
for i in $(seq 0 999); do
    if ((i % 10 == 0)); then
        type=payment.failed
    elif ((i % 2 == 0)); then
        type=order.created
    else
        type=order.shipped
    fi
    secs=$((BASE + i * 47 / 1000))
    ms=$((i * 47 % 1000))
    ts=$(date -u -d "@$secs" +%Y-%m-%dT%H:%M:%S).$(printf %03d "$ms")Z
    id=e2e-$i
    printf '%s %s %s user-%s\n' "$id" "$type" "$(date -u -d "@$((secs / 10 * 10))" +%Y-%m-%dT%H:%M:%S.000Z)" \
        $((i % 37)) >>"$EXPECTED"
    cat >>"$CFG" <<EOF
url = "$URL"
header = "Authorization: Bearer $TOKEN"
header = "Content-Type: application/json"
data = "{\"id\":\"$id\",\"type\":\"$type\",\"source\":\"/e2e\",\"time\":\"$ts\",\"subject\":\"user-$((i % 37))\",\"data\":{\"n\":$i}}"
output = "/dev/null"
write-out = "%{http_code}\\n"
EOF
    ((i < 999)) && echo next >>"$CFG"
done
echo "e2e: posting 1000 events"
curl -s --no-progress-meter --parallel --parallel-max 16 -K "$CFG" >"$STACK_DIR/codes" 2>&1
accepted=$(grep -c '^202$' "$STACK_DIR/codes")
[ "$accepted" = 1000 ] || fail "expected 1000 answers 202, got $accepted ($(sort "$STACK_DIR/codes" | uniq -c | tr '\n' ' '))"

# --- the store holds exactly those 1,000 ids
if ! got=$(wait_sql 60 "SELECT count(*) FROM events WHERE source = '/e2e'" 1000); then
    fail "store holds $got events, expected 1000"
fi
cut -d' ' -f1 "$EXPECTED" | sort >"$STACK_DIR/ids.expected"
sql "SELECT id FROM events WHERE source = '/e2e' ORDER BY id" | sort >"$STACK_DIR/ids.stored"
cmp -s "$STACK_DIR/ids.expected" "$STACK_DIR/ids.stored" || fail "stored ids differ from the posted ids"
[ "$(sql "SELECT count(*) FROM events WHERE tenant = 'dev' AND source = '/e2e'")" = 1000 ] ||
    fail "every stored event carries the token's tenant"
[ "$(sql "SELECT count(*) FROM events WHERE type = 'order.created' AND source = '/e2e'
    AND (envelope->>'schemaid')::int = $SCHEMA_ID")" = 400 ] ||
    fail "validated events carry schemaid $SCHEMA_ID"
[ "$(sql "SELECT count(*) FROM events WHERE source = '/e2e-bad'")" = 0 ] || fail "a rejected event was stored"

# --- the example pipeline's results: one per type and window, exact counts and distinct subjects
# The watermark trails the newest event time by 5 s: one later event of each type closes the
# last windows (posted after the others, from a source the store checks leave out).
for type in payment.failed order.created order.shipped; do
    code -X POST "$URL" "${AUTH[@]}" -H 'Content-Type: application/json' \
        -d "{\"type\":\"$type\",\"source\":\"/e2e-tick\",\"time\":\"2026-01-01T00:02:00Z\",\"data\":{\"n\":1}}" >/dev/null
done
windows_expected "$EXPECTED" >"$STACK_DIR/windows.expected"
if ! wait_same 90 "$STACK_DIR/windows.expected" "$STACK_DIR/windows.got" \
    windows_got '2026-01-01T00:01:00'; then
    fail "window results differ (type window count distinct-subjects):"
    diff "$STACK_DIR/windows.expected" "$STACK_DIR/windows.got" | head -20 >&2
fi
[ -s "$STACK_DIR/windows.expected" ] || fail "no expected windows: the test data is wrong"
# p99 of data.n per window within the sketch's 1 % of the true value of that rank
awk '{ print $2, $3, substr($1, 5) }' "$EXPECTED" | sort -k1,2 -k3n |
    awk '{ k = $1 " " $2; v[k, ++n[k]] = $3 }
         END { for (k in n) { r = int(0.99 * (n[k] - 1)) + 1; print k, v[k, r] } }' |
    sort >"$STACK_DIR/p99.expected"
sql "SELECT subject || ' ' || (data->>'window_start') || ' ' || (data->>'p99') FROM derived_events
     WHERE type = 'pipeline.result' AND data->>'window_start' < '2026-01-01T00:01:00'" |
    sort >"$STACK_DIR/p99.got"
join <(awk '{ print $1 "_" $2, $3 }' "$STACK_DIR/p99.expected") \
    <(awk '{ print $1 "_" $2, $3 }' "$STACK_DIR/p99.got") |
    awk '{ d = $2 - $3; if (d < 0) d = -d; if (d > 0.01 * $2 + 1e-9) { print; bad = 1 } } END { exit bad }' ||
    fail "a p99 is off by more than 1 %"
[ "$(wc -l <"$STACK_DIR/p99.got")" = "$(wc -l <"$STACK_DIR/p99.expected")" ] || fail "p99 rows missing"
[ "$(sql "SELECT count(*) FROM derived_events WHERE type = 'pipeline.result'
    AND envelope->>'tenant' = 'dev' AND envelope->>'traceparent' LIKE '00-%'")" -gt 0 ] ||
    fail "results carry the tenant and the traceparent of their input"

# the windows query answers each type's open window, the one the late "tick" event opened, from
# the checkpoints in Redis (a token of tenant dev with the processor's admin scope)
QTOKEN=$(DEVTOKEN_SCOPE='processor:admin' "$BUILD_DIR/bin/devtoken")
for type in payment.failed order.created order.shipped; do
    deadline=$((SECONDS + 30))
    while :; do
        curl -s -H "Authorization: Bearer $QTOKEN" \
            "http://127.0.0.1:$PROCESSOR_PORT/pipelines/events-per-type/windows?key=$type" >"$STACK_DIR/q.json"
        jq -e '.tenant == "dev" and ([.windows[] | select(.window_start | startswith("2026-01-01T00:02:00"))
            | select(.n == 1 and .open == true)] | length) == 1' \
            "$STACK_DIR/q.json" >/dev/null && break
        if ((SECONDS >= deadline)); then
            fail "the windows query of $type: $(head -c 400 "$STACK_DIR/q.json")"
            break
        fi
        sleep 0.5
    done
done

# ... and, without a key, every type's windows page by page: the pages of one window each hold
# those three open windows among the rest, each once
curl -s -H "Authorization: Bearer $QTOKEN" \
    "http://127.0.0.1:$PROCESSOR_PORT/pipelines/events-per-type/windows?from=2026-01-01T00:02:00Z&to=2026-01-01T00:02:10Z&limit=5000" |
    jq -c '[.windows[] | [.key, .n]] | sort' >"$STACK_DIR/scan.one"
pages=0 cursor=
: >"$STACK_DIR/scan.pages"
while [ "$pages" -lt 100 ]; do
    curl -s -H "Authorization: Bearer $QTOKEN" \
        "http://127.0.0.1:$PROCESSOR_PORT/pipelines/events-per-type/windows?from=2026-01-01T00:02:00Z&to=2026-01-01T00:02:10Z&limit=1${cursor:+&cursor=$cursor}" >"$STACK_DIR/q.json"
    jq -c '.windows[] | [.key, .n]' "$STACK_DIR/q.json" >>"$STACK_DIR/scan.pages"
    pages=$((pages + 1))
    cursor=$(jq -r '.next // empty' "$STACK_DIR/q.json")
    [ -n "$cursor" ] || break
done
[ "$(jq -sc 'sort' "$STACK_DIR/scan.pages")" = "$(cat "$STACK_DIR/scan.one")" ] &&
    [ "$(jq -c '[.[] | select(.[0] == "payment.failed" or .[0] == "order.created" or .[0] == "order.shipped")] | length' "$STACK_DIR/scan.one")" = 3 ] ||
    fail "the windows scan: one page $(cat "$STACK_DIR/scan.one"), $pages pages of one $(jq -sc . "$STACK_DIR/scan.pages")"

# --- exactly one alert per payment.failed event, none for the other rule
grep ' payment.failed ' "$EXPECTED" | cut -d' ' -f1 | sort >"$STACK_DIR/alerts.expected"
alerts_got() {
    sql "SELECT data->'event'->>'id' FROM alerts WHERE data->>'rule' = 'payment-failed'
         AND data->'event'->>'source' = '/e2e'" | sort
}
wait_same 60 "$STACK_DIR/alerts.expected" "$STACK_DIR/alerts.got" alerts_got ||
    fail "alerts differ: expected $(wc -l <"$STACK_DIR/alerts.expected"), got $(wc -l <"$STACK_DIR/alerts.got")"
[ "$(sql "SELECT count(*) FROM alerts WHERE data->>'rule' = 'never'")" = 0 ] || fail "unexpected alerts"
[ "$(sql "SELECT count(*) FROM alerts")" = 100 ] || fail "expected exactly 100 alerts in all"

# --- the registry answers from PostgreSQL
[ "$(curl -s -u "$REGISTRY_USER_INFO" "http://127.0.0.1:$REGISTRY_PORT/subjects")" = '["order.created"]' ] ||
    fail "registry GET /subjects"

# --- every metric the dashboard and the alert rules query is exported by some daemon
mkdir -p "$STACK_DIR/metrics"
for svc in gateway registry processor rules store output; do
    var="${svc^^}_PORT"
    curl -s "http://127.0.0.1:${!var}/metrics" >"$STACK_DIR/metrics/$svc.prom" || fail "$svc /metrics"
done
tests/tools/check_metrics.sh "$STACK_DIR/metrics" || fail "the dashboard or the alert rules query metrics no daemon exports"

# --- stopping leaves nothing behind (checked again by finish via exit statuses)
pids=$(cat "$STACK_DIR"/pids/*.pid)
stack_stop_all || fail "a daemon did not exit cleanly"
for p in $pids; do
    if stack_running "$p"; then
        fail "process $p still running after stop"
    fi
done
