#!/usr/bin/env bash
# test_gateway_daemon.sh <build-dir>: the gateway binary with a JWKS file (keys and tokens made by
# jwks_keys.js) against the harness's broker (KAFKA_BROKERS from run.sh): a token whose kid is in
# the file is accepted and an unknown kid is 401; replacing the file brings the new key in without
# a restart, a broken file keeps the keys in force, SIGHUP reloads, and SIGTERM exits 0. With a
# registry process (over the harness's PostgreSQL) and GATEWAY_SUBJECT_STRATEGY=topic_record, data
# is validated against the schema of subject <topic>-<type>. CORS_ALLOWED_ORIGINS answers a
# browser's preflight, and a bad value stops the daemon at start. An event stamped 3 h ahead of
# the clock is refused, logged and counted. The events of a request share a budget of validation
# steps. Types no schema is registered for are forgotten when no event names them again. A new
# version of a subject, or its deletion, takes effect at once (the registry's trigger announces
# it over the harness's PostgreSQL, DATABASE_URL, and the gateway listens), not after the 60 s
# TTL, also after the gateway's listening connection was killed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_gateway_daemon.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
work=$(mktemp -d /tmp/gw-daemon.XXXXXX)
node "$ROOT/tests/integration/jwks_keys.js" "$work" || { echo "cannot make keys"; exit 1; }
cp "$work/jwks-a.json" "$work/jwks.json"
rport=$(stack_free_port)
REGISTRY_PORT=$rport BIND_ADDR=127.0.0.1 LOG_LEVEL=warn "$ROOT/$BUILD/bin/registry" \
    >"$work/registry.log" 2>&1 </dev/null &
rpid=$!
port=$(stack_free_port)
GATEWAY_PORT=$port BIND_ADDR=127.0.0.1 LOG_LEVEL=info JWT_JWKS_FILE="$work/jwks.json" \
    KAFKA_BROKERS="$KAFKA_BROKERS" REGISTRY_URL="http://127.0.0.1:$rport" \
    GATEWAY_SUBJECT_STRATEGY=topic_record GATEWAY_SCHEMA_TTL=60s GATEWAY_VALIDATION_BUDGET=20000 GATEWAY_SCHEMA_CACHE=20 \
    "$ROOT/$BUILD/bin/gateway" >"$work/gateway.log" 2>&1 </dev/null &
pid=$!
trap 'kill -TERM $pid $rpid 2>/dev/null; wait $pid $rpid 2>/dev/null; rm -rf "$work"' EXIT
stack_wait_port "$port" 30 || { echo "gateway did not start"; cat "$work/gateway.log"; exit 1; }
stack_wait_port "$rport" 30 || { echo "registry did not start"; cat "$work/registry.log"; exit 1; }

fail=0
post() { # post <token-file> [data] [type]: prints the status
    local data=${2:-} type=${3:-daemon.test}
    [ -n "$data" ] || data='{"n":1}'
    curl -s -o "$work/body" -w '%{http_code}' -X POST "http://127.0.0.1:$port/events" \
        -H "Authorization: Bearer $(cat "$work/$1")" -H 'Content-Type: application/json' \
        -d "{\"type\":\"$type\",\"source\":\"/daemon\",\"data\":$data}"
}
expect() { # expect <token-file> <status> <what> [data] [type]: polls up to 10 s (TRIES tenths)
    local got
    for _ in $(seq 1 "${TRIES:-100}"); do
        got=$(post "$1" "${4:-}" "${5:-}")
        [ "$got" = "$2" ] && { echo "ok: $3"; return 0; }
        sleep 0.1
    done
    echo "FAIL: $3: expected $2, got $got: $(cat "$work/body")"
    fail=1
}

register() { # register <subject> <body>
    [ "$(curl -s -o "$work/body" -w '%{http_code}' -X POST \
        "http://127.0.0.1:$rport/subjects/$1/versions" -u "$REGISTRY_USER_INFO" \
        -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$2")" = 200 ] ||
        { echo "FAIL: registering $1: $(cat "$work/body")"; fail=1; }
}
expect token-a 202 "a token signed by a key of the JWKS"
# the subject of daemon.test events on topic events is events-daemon.test (TopicRecordNameStrategy);
# the 202 above cached it as having no schema: the registration below takes effect when the
# registry announces it (or, without the announcement, at the quicker re-ask of missing subjects)
schema='{"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"n\"]}"}'
[ "$(curl -s -o "$work/body" -w '%{http_code}' -X POST \
    "http://127.0.0.1:$rport/subjects/events-daemon.test/versions" -u "$REGISTRY_USER_INFO" \
    -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$schema")" = 200 ] ||
    { echo "FAIL: registering the schema: $(cat "$work/body")"; fail=1; }
expect token-a 422 "data checked against subject events-daemon.test" '{"m":1}'
grep -q "events-daemon.test" "$work/body" || { echo "FAIL: the 422 names the subject"; fail=1; }
# a subject's new version is taken within 2 s (the gateway's TTL is 60 s): the registry's trigger
# NOTIFYs registry_subjects and the gateway fetches the subject again
subject_url="http://127.0.0.1:$rport/subjects/events-daemon.test"
curl -s -o /dev/null -X PUT "http://127.0.0.1:$rport/config/events-daemon.test" \
    -u "$REGISTRY_USER_INFO" -H 'Content-Type: application/json' -d '{"compatibility":"NONE"}'
register events-daemon.test '{"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"n\",\"m\"]}"}'
TRIES=20 expect token-a 422 "a new version is taken at once" '{"n":1}'
TRIES=20 expect token-a 202 "data valid against the new version" '{"n":1,"m":2}'
# the listening connection killed: the gateway listens again and fetches every cached subject
killed=$(psql "$DATABASE_URL" -Atc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE query = 'LISTEN \"registry_subjects\"' AND datname = current_database()")
[ "$killed" = 1 ] || { echo "FAIL: the gateway's listening connection: $killed found"; fail=1; }
register events-daemon.test '{"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"k\"]}"}'
TRIES=50 expect token-a 422 "a version registered after the listener's connection was killed" '{"n":1,"m":2}'
for _ in $(seq 1 50); do
    [ "$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM pg_stat_activity
        WHERE query = 'LISTEN \"registry_subjects\"' AND datname = current_database()")" = 1 ] && break
    sleep 0.1
done
curl -s -o "$work/body" -X DELETE "$subject_url" -u "$REGISTRY_USER_INFO"
grep -qx '\[1,2,3\]' "$work/body" || { echo "FAIL: deleting the subject: $(cat "$work/body")"; fail=1; }
TRIES=20 expect token-a 202 "a deleted subject validates nothing, at once" '{"x":1}'
register events-daemon.test "$schema"
TRIES=20 expect token-a 422 "a subject registered again after its deletion" '{"m":1}'
# an Avro schema with a Confluent reference to a record registered under another subject
register address '{"schema":"{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"com.acme\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}"}'
register events-avro.order '{"schema":"{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"com.acme\",\"fields\":[{\"name\":\"ship_to\",\"type\":\"Address\"}]}","references":[{"name":"com.acme.Address","subject":"address","version":1}]}'
expect token-a 202 "Avro data valid against a schema with a reference" '{"ship_to":{"city":"Lyon"}}' avro.order
expect token-a 422 "Avro data checked through the referenced record" '{"ship_to":{"city":7}}' avro.order
grep -q "/data/ship_to/city" "$work/body" || { echo "FAIL: the 422 points at /data/ship_to/city: $(cat "$work/body")"; fail=1; }
# a diamond of references: six levels of four JSON Schemas, each naming all four of the next; the
# gateway fetches each once (not once per path: 4^6) and validates through every path
dag_body() { # dag_body <level>: the registration body of a schema of that level
    local next=$(($1 + 1)) all="" refs="" j
    for j in 0 1 2 3; do
        all+="${all:+,}{\\\"\$ref\\\":\\\"L$next-$j\\\"}"
        refs+="${refs:+,}{\"name\":\"L$next-$j\",\"subject\":\"dag-$next-$j\",\"version\":1}"
    done
    echo "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"allOf\\\":[$all]}\",\"references\":[$refs]}"
}
for j in 0 1 2 3; do
    register "dag-6-$j" '{"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"n\"]}"}'
done
for level in 5 4 3 2 1; do
    for j in 0 1 2 3; do register "dag-$level-$j" "$(dag_body $level)"; done
done
register events-dag "$(dag_body 0)"
expect token-a 202 "data valid through a diamond of references" '{"n":1}' dag
expect token-a 422 "data checked through a diamond of references" '{"m":1}' dag
# the events of one request share GATEWAY_VALIDATION_BUDGET (20,000 steps here; the diamond costs
# each event about 1,500): in a batch of 40, those past it are refused with 413 naming /data and
# the budget, the ones before are taken, and a refused one is taken in a request of its own
ev='{"type":"dag","source":"/daemon","data":{"n":1}}'
batch="[$ev$(printf ",$ev%.0s" $(seq 2 40))]"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST "http://127.0.0.1:$port/events" \
    -H "Authorization: Bearer $(cat "$work/token-a")" \
    -H 'Content-Type: application/cloudevents-batch+json' -d "$batch")
taken=$(jq '[.results[] | select(.status == 202)] | length' "$work/body")
over=$(jq '[.results[] | select(.status == 413 and .error.field == "/data" and
    (.error.message | test("GATEWAY_VALIDATION_BUDGET")))] | length' "$work/body")
first_over=$(jq '[.results[] | select(.status == 413)][0].index' "$work/body")
if [ "$code" = 207 ] && [ "$taken" -ge 5 ] && [ "$over" -ge 5 ] && [ $((taken + over)) = 40 ] &&
    [ "$first_over" = "$taken" ]; then
    echo "ok: a batch's events share the validation budget ($taken taken, $over refused with 413)"
else
    echo "FAIL: the validation budget: $code, $taken taken, $over over from $first_over: $(head -c 600 "$work/body")"
    fail=1
fi
expect token-a 202 "an event refused for the request's budget passes alone" '{"n":1}' dag
# types no schema is registered for (made up, mistyped): each is asked about once and forgotten
# once no event names it again (each was asked about every 2 s for good), and at most
# GATEWAY_SCHEMA_CACHE subjects (20 here) are held
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
missing='gateway_schema_fetches_total{outcome="not_registered"}'
m0=$(metric "$missing")
for i in $(seq 1 40); do post token-a '{"n":1}' "made.up.$i" >/dev/null; done
m1=$(metric "$missing")
held=$(metric gateway_schema_cache_subjects)
[ $((m1 - m0)) = 40 ] && [ "$held" -le 20 ] &&
    echo "ok: 40 unknown types asked about once each, $held subjects held" ||
    { echo "FAIL: unknown types: $((m1 - m0)) lookups, $held subjects held"; fail=1; }
for _ in $(seq 1 100); do
    held=$(metric gateway_schema_cache_subjects)
    [ "$held" -le 5 ] && break
    sleep 0.1
done
m2=$(metric "$missing")
sleep 3
m3=$(metric "$missing")
[ "$held" -le 5 ] && [ "$m3" = "$m2" ] &&
    echo "ok: unknown types no event names again are forgotten ($held subjects held)" ||
    { echo "FAIL: unknown types: $held subjects held, $((m3 - m2)) lookups in 3 s idle"; fail=1; }
expect token-b 401 "a token whose kid is not in the JWKS"
grep -q 'unknown key id b' "$work/body" || { echo "FAIL: the 401 names the unknown kid"; fail=1; }
sleep 1.1 # a new modification time even on coarse clocks
cp "$work/jwks-ab.json" "$work/jwks.json.new" && mv "$work/jwks.json.new" "$work/jwks.json"
expect token-b 202 "the replaced file is picked up without a restart"
sleep 1.1
echo '{"keys": [' >"$work/jwks.json"
for _ in $(seq 1 30); do
    grep -q keys_reload_failed "$work/gateway.log" && break
    sleep 0.1
done
grep -q keys_reload_failed "$work/gateway.log" || { echo "FAIL: a broken file is reported"; fail=1; }
expect token-b 202 "a broken file keeps the keys in force"
# new content under the modification time the gateway already saw: only SIGHUP reloads it
cp "$work/jwks-a.json" "$work/jwks.json.new"
touch -r "$work/jwks.json" "$work/jwks.json.new"
mv "$work/jwks.json.new" "$work/jwks.json"
sleep 1.5
expect token-b 202 "an unchanged modification time is no change"
kill -HUP $pid
expect token-b 401 "SIGHUP reloads: key b is gone"
# an event stamped 3 h ahead (GATEWAY_MAX_TIME_AHEAD, 1 h): 400 naming /time, logged with its
# tenant, source and client, and counted apart
ahead=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
st=$(curl -s -o "$work/body" -w '%{http_code}' -X POST "http://127.0.0.1:$port/events" \
    -H "Authorization: Bearer $(cat "$work/token-a")" -H 'Content-Type: application/json' \
    -d "{\"type\":\"daemon.test\",\"source\":\"/clock-ahead\",\"time\":\"$ahead\"}")
{ [ "$st" = 400 ] && grep -q '"field":"/time"' "$work/body"; } ||
    { echo "FAIL: an event 3 h ahead: expected 400 naming /time, got $st: $(cat "$work/body")"; fail=1; }
for _ in $(seq 1 50); do grep -q '"event":"event_time_ahead"' "$work/gateway.log" && break; sleep 0.1; done
grep '"event":"event_time_ahead"' "$work/gateway.log" | grep -q "source '/clock-ahead', from 127.0.0.1" ||
    { echo "FAIL: the refusal is logged with its source and client"; fail=1; }
# the metrics the issue names, as Prometheus text
curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics"
for m in 'gateway_http_requests_total{route="/events",method="POST",code="202"}' \
    'gateway_events_total{outcome="accepted",reason=""}' \
    'gateway_events_total{outcome="rejected",reason="auth"}' \
    'gateway_events_total{outcome="rejected",reason="schema"}' \
    'gateway_events_total{outcome="rejected",reason="time_ahead"} 1' \
    'gateway_produce_latency_seconds_bucket' 'gateway_producer_queue_events' \
    'gateway_websocket_connections' 'gateway_schema_fetches_total{outcome="found"}' \
    'gateway_announcements_listening{channel="registry_subjects"} 1' \
    'gateway_announcements_listening{channel="cm_definitions"} 1'; do
    grep -qF "$m" "$work/metrics" || { echo "FAIL: /metrics lacks $m"; fail=1; }
done
taken=$(awk '$1 == "gateway_announcements_total{channel=\"registry_subjects\"}" { print $2 }' "$work/metrics")
[ "${taken:-0}" -ge 4 ] || { echo "FAIL: announcements taken: '$taken', expected at least 4"; fail=1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/livez")" = 200 ] ||
    { echo "FAIL: /livez"; fail=1; }
kill -TERM $pid
wait $pid
rc=$?
kill -TERM $rpid 2>/dev/null
wait $rpid 2>/dev/null
trap 'rm -rf "$work"' EXIT
[ $rc = 0 ] || { echo "FAIL: SIGTERM exit status $rc"; fail=1; }

# shutdown while an event waits for a broker that never answers: the request is answered 503
# (not left hanging, not crashing the HTTP server) and the gateway exits 0 within its timeout
port=$(stack_free_port)
GATEWAY_PORT=$port BIND_ADDR=127.0.0.1 LOG_LEVEL=warn JWT_JWKS_FILE="$work/jwks-a.json" \
    CORS_ALLOWED_ORIGINS=https://app.example.com \
    KAFKA_BROKERS=127.0.0.1:1 "$ROOT/$BUILD/bin/gateway" >"$work/gateway2.log" 2>&1 </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
stack_wait_port "$port" 30 || { echo "gateway did not start"; exit 1; }

# CORS_ALLOWED_ORIGINS: a page of that origin may post events (its preflight is answered); a bad
# value stops the daemon at start
hdrs=$(curl -s -o /dev/null -D - -X OPTIONS "http://127.0.0.1:$port/events" \
    -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: authorization, content-type' | tr -d '\r')
if grep -q '^HTTP/1.1 204' <<<"$hdrs" &&
    grep -qx 'Access-Control-Allow-Origin: https://app.example.com' <<<"$hdrs" &&
    grep -qx 'Access-Control-Allow-Methods: POST' <<<"$hdrs" &&
    grep -qx 'Access-Control-Allow-Headers: authorization, content-type' <<<"$hdrs"; then
    echo "ok: a CORS preflight from an allowed origin is answered"
else
    echo "FAIL: CORS preflight: $hdrs"
    fail=1
fi
GATEWAY_PORT=$(stack_free_port) BIND_ADDR=127.0.0.1 JWT_JWKS_FILE="$work/jwks-a.json" \
    CORS_ALLOWED_ORIGINS=app.example.com KAFKA_BROKERS=127.0.0.1:1 \
    timeout 20 "$ROOT/$BUILD/bin/gateway" >"$work/gateway3.log" 2>&1 </dev/null
rc=$?
[ $rc = 78 ] && grep -q "CORS_ALLOWED_ORIGINS: 'app.example.com' is not an origin" "$work/gateway3.log" ||
    { echo "FAIL: a bad CORS_ALLOWED_ORIGINS exited $rc: $(tail -2 "$work/gateway3.log")"; fail=1; }
# a REDIS_URL that cannot be used (TLS with a CA file that is not there) exits 78 naming it, and
# never writes its password to the log
GATEWAY_PORT=$(stack_free_port) BIND_ADDR=127.0.0.1 JWT_JWKS_FILE="$work/jwks-a.json" \
    REDIS_URL="rediss://:hunter2-secret@127.0.0.1:6380/0?ssl_ca_certs=$work/no-such-ca.pem" \
    KAFKA_BROKERS=127.0.0.1:1 timeout 20 "$ROOT/$BUILD/bin/gateway" >"$work/gateway4.log" 2>&1 </dev/null
rc=$?
[ $rc = 78 ] && grep -q "REDIS_URL: ssl_ca_certs '$work/no-such-ca.pem': " "$work/gateway4.log" &&
    ! grep -q hunter2 "$work/gateway4.log" ||
    { echo "FAIL: a rediss:// REDIS_URL with a missing CA file exited $rc: $(tail -2 "$work/gateway4.log")"; fail=1; }
post token-a >"$work/status" &
cpid=$!
sleep 1
start=$SECONDS
kill -TERM $pid
wait $pid
rc=$?
wait $cpid
[ $rc = 0 ] || { echo "FAIL: exit status $rc with a request in flight: $(tail -3 "$work/gateway2.log")"; fail=1; }
[ "$(cat "$work/status")" = 503 ] && echo "ok: the in-flight request is answered 503 at shutdown" ||
    { echo "FAIL: in-flight request at shutdown got $(cat "$work/status")"; fail=1; }
((SECONDS - start <= 10)) || { echo "FAIL: shutdown took $((SECONDS - start)) s"; fail=1; }
trap 'rm -rf "$work"' EXIT
[ $fail = 0 ] && echo "gateway daemon: all checks passed"
exit $fail
