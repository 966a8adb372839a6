#!/usr/bin/env bash
# test_processor_watermarks.sh <build-dir>: the watermark of input partitions that have sent
# nothing yet, against the harness's PostgreSQL, Redis and development broker (run.sh exports
# their addresses). Every input topic here has 4 partitions and only some of them get events.
#   - a pipeline read in one stage ("repartition": false): an assigned partition that has sent
#     nothing holds the watermark back until it has been idle for idle_timeout, as a Flink
#     source's split does, so its events that come a little later are counted, not late; and its
#     records keyed otherwise than by the pipeline's key (or not keyed) are counted and logged
#     (once a minute), still windowed; an event whose record timestamp is not a time (past year
#     9999) is counted, logged and left out, the watermark unmoved;
#   - a new version of a repartitioned pipeline, swapped in while the processor holds its
#     input partitions (no rebalance follows, its topics being the same), knows those partitions
#     too: the ones that never send an event count as idle after idle_timeout and its windows
#     fire (they waited for those partitions without end before);
#   - a repartitioned pipeline taking each event's time from its data (source.time): events
#     without a `time`, or with another one, are windowed and judged late by the time it gives
#     (milliseconds or RFC 3339), through both stages; a late event carries that time; an event
#     it gives no time for is a dead letter naming source.time.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_watermarks.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${KAFKA_BROKERS:?}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor watermarks" proc-wm
S=$$

export JWT_HS256_SECRET=wm-test-secret-0123456789abcdef0123456789ab
ADMIN=$(DEVTOKEN_SCOPE='processor:admin' "$BIN/devtoken")
IN1=wm-one-$S IN2=wm-two-$S OUT1=wm-one-out-$S OUT2=wm-two-out-$S LATE=wm-late-$S
ONE=wm-one-$S TWO=wm-two-$S
# the topics exist (4 partitions each, none with a record) before the processor subscribes
for t in "$IN1" "$IN2"; do
    kcat -L -b "$KAFKA_BROKERS" -t "$t" >>"$work/kcat.log" 2>&1
done

mkdir -p "$work/pipelines"
# one stage: idle_timeout 8 s, far longer than the pause below between partition 0's events
# and partition 1's
cat >"$work/pipelines/one.json" <<JSON
{"name": "$ONE", "source": {"topics": ["$IN1"], "filter": "has(data.k)"}, "key": "data.k",
 "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "0s", "idle_timeout": "8s",
 "repartition": false, "aggregates": {"n": "count()"}, "sink": {"topic": "$OUT1"}}
JSON
P=$(stack_free_port)
PROCESSOR_PORT=$P BIND_ADDR=127.0.0.1 LOG_LEVEL=info PROCESSOR_GROUP=wm-$S \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" PROCESSOR_CHECKPOINT=200ms TOPIC_EVENTS=$IN1 \
    TOPIC_LATE=$LATE PROCESSOR_PIPELINES_DIR="$work/pipelines" KAFKA_FETCH_WAIT_MAX_MS=10 \
    KAFKA_SESSION_TIMEOUT_MS=6000 KAFKA_HEARTBEAT_INTERVAL_MS=500 \
    "$BIN/processor" >>"$work/p.log" 2>&1 </dev/null &
pids+=($!)
stack_wait_port "$P" 20 || { say "FAIL: the processor did not start"; fail=1; exit 1; }
U=http://127.0.0.1:$P
KC=(-b "$KAFKA_BROKERS" -X fetch.wait.max.ms=10)
json() { curl -s -H "Authorization: Bearer $ADMIN" "$@"; }
metric() { # metric <name>: its value summed over labels
    curl -s "$U/metrics" | awk -v m="$1" 'index($1, m) == 1 { s += $2 } END { print s + 0 }'
}
produce() { # produce <topic> <partition> <key> <second> ...: events at 2026-01-01T00:00:<second>
    local topic=$1 part=$2 key=$3
    shift 3
    for sec in "$@"; do
        printf '%s\t{"specversion":"1.0","type":"t","source":"/wm","id":"%s-%s-%s","subject":"%s","time":"2026-01-01T00:%02d:%02dZ","data":{"k":"%s"}}\n' \
            "$key" "$key" "$part" "$sec" "$key" $((sec / 60)) $((sec % 60)) "$key"
    done | kcat -P -b "$KAFKA_BROKERS" -t "$topic" -p "$part" -K $'\t' 2>>"$work/kcat.log"
}
windowed() { metric "processor_records_total{pipeline=\"$ONE\",outcome=\"windowed\""; }
assigned() { grep -c '"event":"kafka_assigned"' "$work/p.log"; }
wait_until 30 '[ "$(assigned)" -ge 1 ]'

# ---- one stage ----
# partition 0 reads events up to 00:45 first; partition 1's events at 00:05 and 00:15 come
# after it (within idle_timeout of the assignment): counted in their windows, none late
produce "$IN1" 0 a 1 2 45
wait_until 20 '[ "$(windowed)" -ge 3 ]'
check "partition 0's three events were read ($(windowed))" [ "$(windowed)" -ge 3 ]
produce "$IN1" 1 b 5 15
produce "$IN1" 0 a 200 # far ahead: once the quiet partitions are idle, every window fires
one() { timeout 10 kcat -C "${KC[@]}" -t "$OUT1" -e -q -f '%s\n' 2>/dev/null |
    jq -r '"\(.data.key)@\(.data.window_start)=\(.data.n)"' | sort | tr '\n' ' '; }
want="a@2026-01-01T00:00:00.000Z=2 a@2026-01-01T00:00:40.000Z=1 b@2026-01-01T00:00:00.000Z=1 b@2026-01-01T00:00:10.000Z=1 "
wait_until 30 '[ "$(one)" = "$want" ]'
check "one stage: every window of both partitions counted ($(one))" [ "$(one)" = "$want" ]
late=$(timeout 10 kcat -C "${KC[@]}" -t "$LATE" -e -q 2>/dev/null | grep -c '"/wm"')
check "one stage: no event late ($late)" [ "$late" = 0 ]
mismatch() { metric "processor_key_mismatch_total{pipeline=\"$ONE\"}"; }
check "one stage: every record keyed by the pipeline's key ($(mismatch))" [ "$(mismatch)" = 0 ]
# a record keyed otherwise (offset 4 of partition 0), and one without a key: both counted and
# still windowed, logged once (at most once a minute)
before=$(windowed)
{
    printf 'not-z\t{"specversion":"1.0","type":"t","source":"/wm","id":"notz","time":"2026-01-01T00:03:25Z","data":{"k":"z"}}\n'
    printf '\t{"specversion":"1.0","type":"t","source":"/wm","id":"nokey","time":"2026-01-01T00:03:26Z","data":{"k":"z"}}\n'
} | kcat -P -b "$KAFKA_BROKERS" -t "$IN1" -p 0 -K $'\t' -Z 2>>"$work/kcat.log"
wait_until 20 '[ "$(mismatch)" = 2 ]'
check "one stage: the two records keyed otherwise are counted ($(mismatch))" [ "$(mismatch)" = 2 ]
check "one stage: and windowed ($before, then $(windowed))" [ "$(windowed)" = $((before + 2)) ]
shown() { json "$U/pipelines/$ONE" | jq -r '.status.versions[0].key_mismatches // 0'; }
wait_until 5 '[ "$(shown)" = 2 ]' # (the status is refreshed every second)
check "one stage: the status shows them ($(shown))" [ "$(shown)" = 2 ]
logged=$(grep -c '"event":"pipeline_input_not_keyed_by_key"' "$work/p.log")
check "one stage: logged once ($logged)" [ "$logged" = 1 ]
check "one stage: the log names the partition, offset and both keys" grep -qF \
    "the record of $IN1 partition 0 at offset 4 has the Kafka key \\\"not-z\\\" and the pipeline's key \\\"z\\\"" \
    "$work/p.log"

# a record without time whose Kafka timestamp lies past year 9999 (a producer writing to the
# topic directly set it: Debian's confluent-kafka, which kcat cannot do): counted, logged, not
# windowed, and the watermark does not jump to it
far() { metric "processor_records_total{pipeline=\"$ONE\",outcome=\"time_out_of_range\""; }
before=$(windowed)
/usr/bin/python3 - "$KAFKA_BROKERS" "$IN1" >>"$work/kcat.log" 2>&1 <<'PY'
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
p.produce(sys.argv[2], partition=0, key=b"z", timestamp=9000000000000000,
          value=b'{"specversion":"1.0","type":"t","source":"/wm","id":"far","data":{"k":"z"}}')
sys.exit(0 if p.flush(10) == 0 else 1)
PY
check "the record with a far timestamp was produced" [ $? = 0 ]
wait_until 20 '[ "$(far)" = 1 ]'
check "one stage: the event whose time is not a time is counted ($(far))" [ "$(far)" = 1 ]
check "one stage: and not windowed ($before, then $(windowed))" [ "$(windowed)" = "$before" ]
check "one stage: nor taken for a record keyed otherwise ($(mismatch))" [ "$(mismatch)" = 2 ]
check "one stage: the log names the partition, offset and timestamp" grep -qF \
    "the event of $IN1 partition 0 at offset 6 has no time, and its record's timestamp 9000000000000000 ms" \
    "$work/p.log"
wm=$(json "$U/pipelines/$ONE" | jq -r '.status.versions[0].watermark')
check "one stage: the watermark did not move to it ($wm)" [ "${wm:0:5}" = "2026-" ]

# ---- a new version of a repartitioned pipeline, swapped in ----
def() { # def <extra aggregates>
    cat <<JSON
{"source": {"topics": ["$IN2"], "filter": "has(data.k)"}, "key": "data.k",
 "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "0s", "idle_timeout": "2s",
 "aggregates": {"n": "count()"${1:-}}, "sink": {"topic": "$OUT2"}}
JSON
}
H=(-H 'Content-Type: application/json' -H "Authorization: Bearer $ADMIN")
running() { json "$U/pipelines/$TWO" | grep -q "{\"version\":$1,\"state\":\"running\"" && echo 1; }
r=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${H[@]}" -d "$(def)" "$U/pipelines/$TWO")
check "version 1 is created ($r)" [ "$r" = 201 ]
# its repartition topic joins the subscription: the group rebalances once more, and then holds
# the 12 partitions of the three topics
settled() { grep -E '"event":"kafka_(assigned|revoked)"' "$work/p.log" | tail -n 1 | grep -q '"12 partitions assigned"'; }
wait_until 30 '[ "$(assigned)" -ge 2 ] && settled'
check "version 1 runs, its partitions assigned" eval '[ "$(running 1)" = 1 ] && settled'
rebalances=$(grep -cE '"event":"kafka_(assigned|revoked)"' "$work/p.log")
r=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${H[@]}" -d "$(def ', "k": "distinct(subject)"')" "$U/pipelines/$TWO")
check "version 2 is stored ($r)" [ "$r" = 200 ]
wait_until 20 '[ "$(running 2)" = 1 ]'
check "version 2 runs" [ "$(running 2)" = 1 ]
# only partition 2 gets events, all after version 2's cut-over (its event times are now)
now=$(date +%s%3N)
t1=$(date -u -d "@$((now / 1000 + 20))" +%Y-%m-%dT%H:%M:%SZ)
t2=$(date -u -d "@$((now / 1000 + 100))" +%Y-%m-%dT%H:%M:%SZ)
for t in "$t1" "$t2"; do
    printf 'c\t{"specversion":"1.0","type":"t","source":"/wm","id":"two-%s","subject":"c","time":"%s","data":{"k":"c"}}\n' "$t" "$t"
done | kcat -P -b "$KAFKA_BROKERS" -t "$IN2" -p 2 -K $'\t' 2>>"$work/kcat.log"
two() { timeout 10 kcat -C "${KC[@]}" -t "$OUT2" -e -q -f '%s\n' 2>/dev/null |
    jq -r 'select(.data.version == 2) | "\(.data.key)=\(.data.n)"' | sort | tr '\n' ' '; }
wait_until 30 '[ -n "$(two)" ]'
check "version 2 fired the window of its first event, the other partitions idle ($(two))" [ "$(two)" = "c=1 " ]
check "no rebalance since version 2 was stored" [ "$(grep -cE '"event":"kafka_(assigned|revoked)"' "$work/p.log")" = "$rebalances" ]

# ---- source.time: the time an event's data states, through both stages ----
THREE=wm-three-$S IN3=wm-three-in-$S OUT3=wm-three-out-$S DLQ3=wm-three-dlq-$S
kcat -L -b "$KAFKA_BROKERS" -t "$IN3" >>"$work/kcat.log" 2>&1
r=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${H[@]}" -d '{"source": {"topics": ["'"$IN3"'"],
 "time": "data.at"}, "key": "data.k", "window": {"type": "tumbling", "size": "1m"},
 "out_of_orderness": "0s", "idle_timeout": "2s", "aggregates": {"n": "count()"},
 "sink": {"topic": "'"$OUT3"'"}, "dead_letter": {"topic": "'"$DLQ3"'"}}' "$U/pipelines/$THREE")
check "the pipeline with a source.time is created ($r)" [ "$r" = 201 ]
wait_until 30 '[ -n "$(json "$U/pipelines/$THREE" | grep "\"state\":\"running\"")" ] && settled'
{ # no `time`, or one years off: the time is data.at's (ms, or RFC 3339)
    printf 'x	{"specversion":"1.0","type":"t","source":"/et","id":"et-1","data":{"k":"x","at":1767225600000}}\n'
    printf 'x	{"specversion":"1.0","type":"t","source":"/et","id":"et-2","time":"2020-01-01T00:00:00Z","data":{"k":"x","at":"2026-01-01T00:00:05Z"}}\n'
    printf 'x	{"specversion":"1.0","type":"t","source":"/et","id":"et-3","data":{"k":"x","at":"bogus"}}\n'
    printf 'x	{"specversion":"1.0","type":"t","source":"/et","id":"et-4","data":{"k":"x","at":"2026-01-01T00:01:30Z"}}\n'
    printf 'x	{"specversion":"1.0","type":"t","source":"/et","id":"et-5","time":"2026-01-01T00:01:40Z","data":{"k":"x","at":"2026-01-01T00:00:10Z"}}\n'
    printf 'x	{"specversion":"1.0","type":"t","source":"/et","id":"et-6","data":{"k":"x","at":"2026-01-01T01:05:00+01:00"}}\n'
} | kcat -P -b "$KAFKA_BROKERS" -t "$IN3" -p 0 -K $'\t' 2>>"$work/kcat.log"
three() { timeout 10 kcat -C "${KC[@]}" -t "$OUT3" -e -q -f '%s\n' 2>/dev/null |
    jq -r '"\(.data.key)@\(.data.window_start)=\(.data.n)"' | sort | tr '\n' ' '; }
want3="x@2026-01-01T00:00:00.000Z=2 x@2026-01-01T00:01:00.000Z=1 "
wait_until 30 '[ "$(three)" = "$want3" ]'
check "source.time: windows by data.at, through the repartition topic ($(three))" [ "$(three)" = "$want3" ]
late3=$(timeout 10 kcat -C "${KC[@]}" -t "$LATE" -e -q 2>/dev/null | jq -c 'select(.source == "/et") | [.id, .time]')
check "source.time: et-5 is late by data.at, and carries it as its time ($late3)" \
    [ "$late3" = '["et-5","2026-01-01T00:00:10Z"]' ]
dead3=$(timeout 10 kcat -C "${KC[@]}" -t "$DLQ3" -e -q -f '%h\t%s\n' 2>/dev/null)
check "source.time: et-3 alone is a dead letter, naming source.time ($dead3)" eval \
    '[ "$(grep -c . <<<"$dead3")" = 1 ] && grep -q "\"et-3\"" <<<"$dead3" && grep -qF "dlq_error=source.time: gave text '"'bogus'"', not a time" <<<"$dead3"'
[ "$fail" = 0 ] && say "ok (one stage: $(one)| swapped in: $(two)| source.time: $(three))"
exit "$fail"
