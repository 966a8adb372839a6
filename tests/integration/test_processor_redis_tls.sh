#!/usr/bin/env bash
# test_processor_redis_tls.sh <build-dir>: the processor keeping its window state in a Redis it
# reaches over TLS (rediss://, a certificate made by tls_certs.sh, checked against
# ssl_ca_certs), through the harness's development broker:
#   - its checkpoints are in that Redis (read back over the server's plain port) and a window's
#     result comes out;
#   - killed (-9) with a window open, it starts again from the checkpoint it reads over TLS: the
#     window's result counts the events from before the kill and after it;
#   - with a CA that did not sign the server's certificate it is not ready, and /readyz says why.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_redis_tls.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${KAFKA_BROKERS:?run through tests/integration/run.sh}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor redis tls" proc-tls
S=$$
IN=tls-in-$S OUT=tls-out-$S NAME=tls-visits-$S

"$ROOT/tests/integration/tls_certs.sh" "$work" || { failed "the certificates could not be made"; exit 1; }
PLAIN=$(stack_free_port) TLSP=$(stack_free_port)
redis-server --bind 127.0.0.1 --port "$PLAIN" --tls-port "$TLSP" --dir "$work" --save "" \
    --appendonly no --tls-cert-file "$work/server.pem" --tls-key-file "$work/server.key" \
    --tls-ca-cert-file "$work/ca.pem" --tls-auth-clients no --daemonize no \
    >"$work/redis.log" 2>&1 </dev/null &
pids+=($!)
wait_until 10 'redis-cli -p "$PLAIN" ping >/dev/null 2>&1' || { failed "redis-server did not start"; exit 1; }

mkdir -p "$work/pipelines"
cat >"$work/pipelines/visits.json" <<JSON
{"name": "$NAME", "source": {"topics": ["$IN"]}, "key": "subject",
 "window": {"type": "tumbling", "size": "10s"}, "idle_timeout": "1s",
 "aggregates": {"n": "count()"}, "sink": {"topic": "$OUT"}}
JSON
export PROCESSOR_PIPELINES_DIR=$work/pipelines JWT_HS256_SECRET=tls-test-secret-0123456789abcdef0123456789
export IT_REDIS_URL="rediss://127.0.0.1:$TLSP/0?ssl_ca_certs=$work/ca.pem"
P=$(stack_free_port)
it_start_processor p.log "$P" tls

T0=$(($(date +%s) / 10 * 10 - 600))
send() { # send <subject> <seconds after T0>: an event on partition 0 of the input
    printf '%s\t{"specversion":"1.0","type":"visit","source":"/tls","id":"%s-%s","subject":"%s","time":"%s"}\n' \
        "$1" "$1" "$2" "$1" "$(date -u -d "@$((T0 + $2))" +%Y-%m-%dT%H:%M:%SZ)" |
        kcat -P -b "$KAFKA_BROKERS" -t "$IN" -p 0 -K $'\t' 2>>"$work/kcat.log"
}
# u1's results: "<window start>-<window end> <n>" (seconds after T0), each id once
results() {
    timeout 10 kcat -C -b "$KAFKA_BROKERS" -X fetch.wait.max.ms=10 -t "$OUT" -e -q -f '%s\n' \
        2>/dev/null | python3 -c '
import datetime, json, sys
t0, seen = int(sys.argv[1]), set()
def at(text):
    t = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp()) - t0
for line in sys.stdin:
    e = json.loads(line)
    if e.get("subject") == "u1" and e["id"] not in seen:
        seen.add(e["id"])
        d = e["data"]
        print("%d-%d %d" % (at(d["window_start"]), at(d["window_end"]), d["n"]))
' "$T0"
}

send u1 0
send u1 1
send u1 2
send x 20 # the watermark passes [0, 10)
wait_until 30 '[ -n "$(results)" ]'
check "the window's result came out ($(results | tr '\n' '|'))" [ "$(results)" = "0-10 3" ]
check "its checkpoints are in the Redis it reaches over TLS" \
    test -n "$(redis-cli -p "$PLAIN" --scan --pattern "{processor:$NAME:*" | head -n 1)"
curl -s "http://127.0.0.1:$P/readyz" >"$work/ready"
check "ready, its Redis check passing ($(cat "$work/ready"))" \
    jq -e '.status == "ready" and .details.stream.state_durable == true' "$work/ready" >/dev/null

# killed with [30, 40) open: its two events are in the checkpoint read back over TLS
send u1 31
send u1 32
sleep 1.5 # checkpoints every 200 ms
kill -9 "${pids[1]}"
wait "${pids[1]}" 2>/dev/null
it_start_processor p2.log "$P" tls
send u1 33
send x 60
wait_until 40 '[ "$(results | wc -l)" -ge 2 ]'
check "after the restart [30, 40) counts the events from before the kill and after ($(results | tr '\n' '|'))" \
    [ "$(results | tr '\n' '|')" = "0-10 3|30-40 3|" ]

# a CA that did not sign the server's certificate: not ready, saying why
kill -TERM "${pids[2]}"
wait "${pids[2]}" 2>/dev/null
P2=$(stack_free_port)
IT_REDIS_URL="rediss://127.0.0.1:$TLSP/0?ssl_ca_certs=$work/other.pem" it_start_processor p3.log "$P2" tls3
sleep 2
curl -s "http://127.0.0.1:$P2/readyz" >"$work/unready"
check "with the wrong CA it is not ready, /readyz naming the certificate ($(cat "$work/unready"))" \
    grep -q "certificate" "$work/unready"
check "... and its log says why" grep -q "the server's certificate" "$work/p3.log"
[ "$fail" = 0 ] && say "ok"
exit "$fail"
