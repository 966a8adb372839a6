#!/usr/bin/env bash
# faults.sh <build-dir>: the whole stack under load while its daemons and servers are killed.
# Starts devkafka, redis, PostgreSQL, s3rver and the six daemons (from <build-dir>, normally the
# sanitizer build) on free loopback ports, POSTs 30,000 events through the gateway in batches of
# 100 over about 40 s, each batch again until it is answered 202 (as a client does after a
# connection refused or reset, or a 409 for keys still in flight), and meanwhile kills (-9) the
# processor, rules, store, output, PostgreSQL, Redis and the gateway in turn, each three times or
# more, starting each again a second later (as `make run` and compose restart a daemon;
# PostgreSQL on its data directory, Redis on its append-only file, which may lack its last second
# of checkpoints). Then, as if nothing had happened:
#   - every batch was answered 202 in the end, and the store holds exactly the posted ids, each
#     once,
#   - derived_events holds, from the shipped example pipeline (events per type in 10 s windows,
#     re-keyed through its repartition topic, deduplicated), exactly one result per type and
#     window, with the exact count and distinct subjects (a result sent again after a kill keeps
#     its id),
#   - alerts holds exactly one alert per matching event,
#   and so after the last 300 events were written to Kafka a second time (below; the pipeline
#   counts at least those 300 repeats dropped),
#   - no daemon lost a record to the broker's retention (`records_lost` on /readyz), and every
#     daemon is ready, exits 0 on SIGTERM and left no sanitizer report.
# Killing the gateway sends events twice: a batch the dead gateway had written to Kafka before it
# could answer is posted again, and its events reach Kafka a second time under the same ids
# (ingestion is at-least-once across a crash; so is a batch posted while Redis, which holds the
# idempotency keys, is down). The store and the sinks keep one of each id, and the pipeline's
# `deduplicate` keeps its windows exact. A retried batch reaches Kafka a few seconds late (its
# keys in flight under the dead gateway are claimed again once its 5 s lease lapses, logged as
# `idempotency_taken_over`), so this test runs the shipped pipeline with 30 s of
# out_of_orderness (about 19 s of the load's wall-clock time) instead of 5: with 5, such a batch
# can be late for its windows.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: faults.sh <build-dir>}
. scripts/stack-lib.sh
E2E_NAME=e2e-faults
. tests/e2e/lib.sh
# PostgreSQL as in production: a commit acknowledged is on disk (STACK_FAST would lose the
# last ones to a kill)
export S3_BUCKET=faults LOG_LEVEL=info STACK_FAST=0
export RULES_FILE=$STACK_DIR/rules.json PROCESSOR_PIPELINES_DIR=$STACK_DIR/pipelines
cat >"$RULES_FILE" <<'EOF'
{"rules": [{"id": "payment-failed", "condition": "type == 'payment.failed' && data.n % 20 == 0"}]}
EOF
mkdir -p "$PROCESSOR_PIPELINES_DIR"
jq '.out_of_orderness = "30s"' config/pipelines/events-per-type.json \
    >"$PROCESSOR_PIPELINES_DIR/events-per-type.json"
VICTIMS=(processor rules store output postgres redis gateway)
EVENTS=30000

e2e_start

# The events: 2 ms of event time apart from a fixed base (60 s, six windows per type), three
# types, 37 subjects; a batch file per 100 and a line "id type window-start subject" per event.
mkdir -p "$STACK_DIR/batches" "$STACK_DIR/codes"
EXPECTED=$STACK_DIR/expected
python3 - "$STACK_DIR/batches" "$EXPECTED" "$EVENTS" <<'EOF'
import datetime, json, sys
out, expected, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
with open(expected, "w") as exp:
    for b in range(n // 100):
        batch = []
        for i in range(b * 100, b * 100 + 100):
            kind = "payment.failed" if i % 10 == 0 else "order.created" if i % 2 == 0 else "order.shipped"
            t = base + datetime.timedelta(milliseconds=2 * i)
            w = t.replace(second=t.second // 10 * 10, microsecond=0)
            subject = "user-%d" % (i % 37)
            batch.append({"id": "faults-%d" % i, "type": kind, "source": "/faults", "subject": subject,
                          "time": t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000),
                          "data": {"n": i}})
            exp.write("faults-%d %s %s %s\n" % (i, kind, w.strftime("%Y-%m-%dT%H:%M:%S.000Z"), subject))
        with open("%s/%04d.json" % (out, b), "w") as f:
            json.dump(batch, f)
EOF

# The load, in the background: about 8 batches a second, at most 4 in flight (so events reach
# Kafka at most 800 ms of event time out of order, but for batches posted again). A batch is
# posted again every half second until it is answered 202; each answer that was not is noted.
post_batch() {
    local f=$1 b code
    b=$(basename "$f" .json)
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 -X POST "$URL" \
            -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            --data-binary @"$f")
        [ "$code" = 202 ] && break
        echo "$b $code" >>"$STACK_DIR/retries"
        sleep 0.5
    done
    echo -n 202 >"$STACK_DIR/codes/$b"
}
(
    for f in "$STACK_DIR"/batches/*.json; do
        while [ "$(jobs -r | wc -l)" -ge 4 ]; do sleep 0.02; done
        post_batch "$f" &
        sleep 0.12
    done
    wait
) &
poster=$!

# The faults, here (so the daemons started again are this shell's children, whose exit statuses
# stack_stop_all reports): a daemon or a server killed every 3 s, in turn, until the load has
# ended and each was killed at least three times.
kills=0
i=0
declare -A KILLED
while kill -0 "$poster" 2>/dev/null || ((i % ${#VICTIMS[@]} != 0)) || ((kills < 3 * ${#VICTIMS[@]})); do
    svc=${VICTIMS[$((i % ${#VICTIMS[@]}))]}
    i=$((i + 1))
    pid=$(stack_pid "$svc")
    if [ -n "$pid" ] && stack_running "$pid"; then
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        KILLED[$svc]=$((${KILLED[$svc]:-0} + 1))
    fi
    sleep 1
    if [ "$svc" = postgres ]; then
        # on the same data directory; its orphaned backends may take a moment to go
        for _ in 1 2 3; do stack_start_pg 2>/dev/null && break; sleep 1; done
    elif [ "$svc" = redis ]; then
        stack_start_redis # on its append-only file
    else
        stack_spawn "$svc" "$BUILD_DIR/bin/$svc"
    fi
    sleep 2
    ((kills >= 40)) && break
done
wait "$poster"
echo "$E2E_NAME: $kills kills ($(for s in "${VICTIMS[@]}"; do echo -n "$s ${KILLED[$s]:-0} "; done)); posted $(ls "$STACK_DIR/codes" | wc -l) batches; answers other than 202, each followed by the batch again:$(cut -d' ' -f2 "$STACK_DIR/retries" 2>/dev/null | sort | uniq -c | tr -s ' \n' ' ')"
for s in "${VICTIMS[@]}"; do
    [ "${KILLED[$s]:-0}" -ge 3 ] || fail "$s was killed ${KILLED[$s]:-0} times, not at least 3"
done
stack_wait_ready 120 || fail "not every daemon is ready again"

# --- every batch accepted, and the store holds exactly the posted ids, each once
codes=$(cat "$STACK_DIR"/codes/* | fold -w 3 | sort | uniq -c | tr -s ' \n' ' ')
[ "$codes" = " $((EVENTS / 100)) 202 " ] || fail "expected $((EVENTS / 100)) answers 202, got:$codes"
if ! got=$(wait_sql 120 "SELECT count(*) FROM events WHERE source = '/faults'" "$EVENTS"); then
    fail "the store holds $got events, expected $EVENTS"
fi
cut -d' ' -f1 "$EXPECTED" | sort >"$STACK_DIR/ids.expected"
sql "SELECT id FROM events WHERE source = '/faults'" | sort >"$STACK_DIR/ids.stored"
[ -s "$STACK_DIR/ids.expected" ] || fail "no expected ids: the test data is wrong"
cmp -s "$STACK_DIR/ids.expected" "$STACK_DIR/ids.stored" || fail "the stored ids differ from the posted ids"

# --- events sent twice, as a gateway killed after writing a batch to Kafka but before answering
# sends them (the kills above rarely catch a batch in flight): the last 300 events written again
# straight to Kafka, the same key and value. Their windows are still open (the watermark trails
# by 30 s), so only the pipeline's deduplication keeps them exact, and only the sinks' keeping
# one of each id keeps the store and the alerts so.
kcat -C -b "$KAFKA_BROKERS" -t events -e -q -f '%k\t%s\n' 2>/dev/null |
    awk 'match($0, /"id":"faults-29[7-9][0-9][0-9]"/) && !seen[substr($0, RSTART, RLENGTH)]++' \
        >"$STACK_DIR/again.tsv"
[ "$(wc -l <"$STACK_DIR/again.tsv")" = 300 ] ||
    fail "expected the last 300 events on Kafka, found $(wc -l <"$STACK_DIR/again.tsv")"
kcat -P -b "$KAFKA_BROKERS" -t events -K $'\t' <"$STACK_DIR/again.tsv" || fail "writing the events again"

# --- one result per type and window, exact: an event of each type two minutes on closes them
for type in payment.failed order.created order.shipped; do
    curl -s -o /dev/null -X POST "$URL" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' \
        -d "{\"type\":\"$type\",\"source\":\"/faults-tick\",\"time\":\"2026-01-01T00:02:00Z\",\"data\":{\"n\":1}}"
done
windows_expected "$EXPECTED" >"$STACK_DIR/windows.expected"
[ "$(wc -l <"$STACK_DIR/windows.expected")" = 18 ] || fail "expected 18 windows: the test data is wrong"
if ! wait_same 120 "$STACK_DIR/windows.expected" "$STACK_DIR/windows.got" \
    windows_got '2026-01-01T00:01:10'; then
    fail "window results differ (type window count distinct-subjects):"
    diff "$STACK_DIR/windows.expected" "$STACK_DIR/windows.got" | head -20 >&2
fi

# --- exactly one alert per matching event
awk '$2 == "payment.failed" { split($1, p, "-"); if (p[2] % 20 == 0) print $1 }' "$EXPECTED" |
    sort >"$STACK_DIR/alerts.expected"
[ "$(wc -l <"$STACK_DIR/alerts.expected")" = $((EVENTS / 20)) ] || fail "the expected alerts are wrong"
alerts_got() {
    sql "SELECT data->'event'->>'id' FROM alerts WHERE data->>'rule' = 'payment-failed'" | sort
}
wait_same 60 "$STACK_DIR/alerts.expected" "$STACK_DIR/alerts.got" alerts_got ||
    fail "alerts differ: expected $(wc -l <"$STACK_DIR/alerts.expected"), got $(wc -l <"$STACK_DIR/alerts.got") ($(comm -13 "$STACK_DIR/alerts.expected" "$STACK_DIR/alerts.got" | wc -l) unexpected)"

# --- nothing lost to the broker's retention
for svc in processor rules store output; do
    var="${svc^^}_PORT"
    lost=$(curl -s "http://127.0.0.1:${!var}/readyz" | jq -r '.details.stream.records_lost')
    [ "$lost" = 0 ] || fail "$svc: records_lost $lost"
done

# --- what the kills sent twice (counters since each daemon's last start): the store drops a
# repeated id, the pipeline's deduplicate the events it windows again
dups() { # dups <port> <metric line pattern>
    curl -s "http://127.0.0.1:$1/metrics" | awk -v re="$2" '$0 ~ re { n += $2 } END { print n + 0 }'
}
pdups=$(dups "$PROCESSOR_PORT" '^processor_records_total[{].*outcome="duplicate"')
echo "$E2E_NAME: events read again and dropped since the last restart: the store $(dups "$STORE_PORT" '^store_[a-z_]*total[{].*outcome="duplicate"'), the pipeline $pdups"
[ "$pdups" -ge 300 ] || fail "the pipeline dropped $pdups repeats, not the 300 events written again"
