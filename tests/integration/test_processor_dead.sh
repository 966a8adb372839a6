#!/usr/bin/env bash
# test_processor_dead.sh <build-dir>: dead letters of the processor, against the harness's
# PostgreSQL, Redis and development broker. Records a pipeline cannot process go to a dead-letter
# topic as they were read (key, value, headers) with headers saying why, instead of being dropped:
#   - an event a windowed pipeline's map fails on (its first stage, before the repartition topic)
#     goes to the default topic (TOPIC_DLQ) with dlq_pipeline, dlq_pipeline_version, dlq_error
#     naming the step, dlq_topic, dlq_partition and dlq_offset of the record read;
#   - a stateless pipeline's flatMap failing sends to the topic its definition names;
#   - "dead_letter": false only counts;
#   - a record that is not an event goes once to each dead-letter topic of the pipelines reading
#     its topic (dlq_service: processor);
#   - a pipeline reading the default dead-letter topic itself never sends to it (no loop);
#   - an event stamped more than max_time_ahead (1 h) after its record is a windowed pipeline's
#     dead letter (counted as time_ahead), and a stateless pipeline's output;
#   - an event whose key would pass its windowed pipeline's max_keys goes, as the pipeline keyed
#     it, to the pipeline's dead-letter topic with the reason and where its record came from,
#     and is counted (key_bound); the keys within the bound are computed as before; the status
#     shows the keys held, the fullest partition's, those refused and the bound;
#   - the events that do not fail are processed as before; the counters by pipeline; the dry run
#     lists dead letters with their index and reason.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_dead.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${KAFKA_BROKERS:?}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor dead letters" proc-dead
jqe() { jq -e "$@" >/dev/null; }

export JWT_HS256_SECRET=dead-test-secret-0123456789abcdef0123456789
ADMIN=$(DEVTOKEN_SCOPE='processor:admin' DEVTOKEN_TENANT=dev "$BIN/devtoken")
S=$$
IN=d-in-$S DLQ=d-dlq-$S OWN=d-own-$S IN2=d-in2-$S BDLQ=d-bdlq-$S
export TOPIC_DLQ=$DLQ
P1=$(stack_free_port)
it_start_processor p1.log "$P1" d
U1=http://127.0.0.1:$P1

put() { # put <name> <definition>
    curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' -d "$2" "$U1/pipelines/$1"
}
check "a windowed pipeline is created" [ "$(put win-$S '{"source": {"topics": ["'$IN'"]}, "steps": [{"map": {"k": "data.k", "v": "double(data.v)"}}], "key": "data.k", "window": {"type": "tumbling", "size": "10s"}, "aggregates": {"n": "count()", "s": "sum(data.v)"}, "sink": {"topic": "d-out-'$S'"}}')" = 201 ]
check "a stateless pipeline with its own dead-letter topic is created" [ "$(put plain-$S '{"source": {"topics": ["'$IN'"]}, "steps": [{"flatMap": "data.items"}], "dead_letter": {"topic": "'$OWN'"}, "sink": {"topic": "d-plain-'$S'"}}')" = 201 ]
check "a pipeline without dead letters is created" [ "$(put quiet-$S '{"source": {"topics": ["'$IN'"]}, "steps": [{"map": {"x": "int(data.v)"}}], "dead_letter": false, "sink": {"topic": "d-quiet-'$S'"}}')" = 201 ]
check "a pipeline over the dead letters is created" [ "$(put over-$S '{"source": {"topics": ["'$DLQ'"]}, "steps": [{"map": {"x": "int(data.v)"}}], "sink": {"topic": "d-over-'$S'"}}')" = 201 ]
r=$(curl -s -w ' %{http_code}' -X PUT -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"source": {"topics": ["'$IN'"]}, "dead_letter": {"topic": "'$IN'"}}' "$U1/pipelines/loop-$S")
{ [ "${r##* }" = 422 ] && [[ "$r" == *"dead_letter.topic: '$IN' is also a source topic"* ]]; } ||
    failed "a dead-letter topic that is a source topic is 422 naming it ($r)"
check "a pipeline of one key per partition is created" [ "$(put bound-$S '{"source": {"topics": ["'$IN2'"]}, "steps": [{"map": {"k": "data.k", "v": "double(data.v)"}}], "key": "data.k", "repartition": false, "max_keys": 1, "idle_timeout": "1s", "window": {"type": "tumbling", "size": "10s"}, "aggregates": {"n": "count()", "s": "sum(data.v)"}, "dead_letter": {"topic": "'$BDLQ'"}, "sink": {"topic": "d-bout-'$S'"}}')" = 201 ]
for p in win plain quiet over bound; do
    for _ in $(seq 1 100); do
        curl -s -H "Authorization: Bearer $ADMIN" "$U1/pipelines/$p-$S" | grep -q '"state":"running"' && break
        sleep 0.1
    done
done
sleep 1 # the group's join

# e1 passes everywhere; e2 fails win's map (and quiet's); e3 fails plain's flatMap; two records
# are not events; e4's time is two hours after its record's timestamp (now): too far for win
ev() { printf '{"specversion":"1.0","type":"t","source":"/d","id":"%s","time":"2026-01-01T00:00:0%sZ","data":%s}' "$1" "$2" "$3"; }
AHEAD=$(printf '{"specversion":"1.0","type":"t","source":"/d","id":"e4","time":"%s","data":{"k":"a","v":4,"items":[4]}}' "$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)")
{
    printf 'a\t%s\n' "$(ev e1 1 '{"k":"a","v":1,"items":[1]}')"
    printf 'a\t%s\n' "$(ev e2 2 '{"k":"a","v":"x","items":[2]}')"
    printf 'b\t%s\n' "$(ev e3 3 '{"k":"b","v":3}')"
    printf 'c\tgarbage{\n'
    printf 'd\t[1,2]\n'
    printf 'a\t%s\n' "$AHEAD"
} | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' -H origin=test -H 'trace=t 1' 2>>"$work/kcat.log"

# x, then y in the same partition: y finds the one key's room taken; x's later event closes its
# first window
{
    printf 'x\t%s\n' "$(ev x1 1 '{"k":"x","v":1}')"
    printf 'y\t%s\n' "$(ev y1 2 '{"k":"y","v":2}')"
    printf 'x\t%s\n' "$(ev x2 3 '{"k":"x","v":3}')"
    printf 'x\t%s\n' "$(ev x3 1 '{"k":"x","v":4}' | sed 's/T00:00:01Z/T00:01:00Z/')"
} | kcat -P -b "$KAFKA_BROKERS" -t "$IN2" -p 0 -K $'\t' -H origin=test 2>>"$work/kcat.log"

read_topic() { kcat -C -b "$KAFKA_BROKERS" -t "$1" -e -q -f '%k\t%h\t%s\n' 2>/dev/null | grep -v '^$'; }
for _ in $(seq 1 300); do
    [ "$(read_topic "$DLQ" | wc -l)" -ge 4 ] && [ "$(read_topic "$OWN" | wc -l)" -ge 3 ] && break
    sleep 0.1
done
sleep 1.5 # anything more would come by now (the pipeline over the dead letters read them)
read_topic "$DLQ" >"$work/dlq"
read_topic "$OWN" >"$work/own"
kcat -C -b "$KAFKA_BROKERS" -t "$IN" -e -q -f '%p %o %s\n' 2>/dev/null | grep -v '^$' >"$work/in"
check "the default dead-letter topic holds 4 records ($(wc -l <"$work/dlq"))" [ "$(wc -l <"$work/dlq")" = 4 ]
check "the pipeline's own dead-letter topic holds 3 records ($(wc -l <"$work/own"))" [ "$(wc -l <"$work/own")" = 3 ]

# has <file> <record value> <header...>: a dead letter with that value, key and every header
has() {
    local f=$1 value=$2 line
    shift 2
    line=$(awk -F'\t' -v v="$value" '$3 == v' "$f")
    [ "$(printf '%s' "$line" | grep -c .)" = 1 ] || { say "no single dead letter of $value in $f"; return 1; }
    for h in "$@"; do
        [[ ",$(printf '%s' "$line" | cut -f2)," == *",$h,"* ]] || { say "$value: no header $h in: $line"; return 1; }
    done
}
where() { # where <id>: the partition and offset e<id> was read from
    awk -v id="\"id\":\"$1\"" 'index($0, id) { print $1, $2 }' "$work/in"
}
read -r p2 o2 <<<"$(where e2)"
read -r p3 o3 <<<"$(where e3)"
read -r p4 o4 <<<"$(where e4)"
check "e2 was produced ($p2 $o2)" [ -n "$o2" ]
check "e2 is a dead letter of win, as read, with its reason and origin" \
    has "$work/dlq" "$(ev e2 2 '{"k":"a","v":"x","items":[2]}')" origin=test 'trace=t 1' \
    "dlq_pipeline=win-$S" dlq_pipeline_version=1 "dlq_error=steps[0].map.v: string is not a double" \
    dlq_attempts=1 "dlq_topic=$IN" "dlq_partition=$p2" "dlq_offset=$o2"
check "e4 is a dead letter of win: its time is more than 1h after its record's" \
    has "$work/dlq" "$AHEAD" "dlq_pipeline=win-$S" "dlq_topic=$IN" "dlq_partition=$p4" "dlq_offset=$o4"
check "its reason names the time, the bound and the record's timestamp" \
    grep -Eq "dlq_error=time: $(jq -r .time <<<"$AHEAD" | sed 's/Z$//')\.000Z is more than 1h ahead of its record's timestamp 20[0-9-]+T[0-9:.]+Z \(max_time_ahead\)" "$work/dlq"
check "its key is the record's" [ "$(awk -F'\t' 'index($3, "\"e2\"") { print $1 }' "$work/dlq")" = a ]
check "e3 is a dead letter of plain in its own topic" \
    has "$work/own" "$(ev e3 3 '{"k":"b","v":3}')" "dlq_pipeline=plain-$S" \
    "dlq_error=steps[0].flatMap: no such key: items" "dlq_topic=$IN" "dlq_partition=$p3" "dlq_offset=$o3"
for f in dlq own; do
    check "the record that is not JSON is in $f once" has "$work/$f" 'garbage{' dlq_service=processor
    check "the record that is not an object is in $f once" has "$work/$f" '[1,2]' dlq_service=processor
done
check "e2 is not in the pipeline's own topic (only win failed on it)" [ "$(grep -c '"e2"' "$work/own")" = 0 ]
check "e1 is a dead letter nowhere" [ "$(cat "$work/dlq" "$work/own" | grep -c '"e1"')" = 0 ]

# what does not fail goes on as before: plain's flatMap made one event of e1, e2 and e4 (a
# stateless pipeline has no watermark for a time far ahead to move)
plain=$(kcat -C -b "$KAFKA_BROKERS" -t d-plain-$S -e -q -f '%s\n' 2>/dev/null | grep -c .)
check "plain's outputs: 3 ($plain)" [ "$plain" = 3 ]
metric() { curl -s "$U1/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
check "dead letters counted for win: 2" [ "$(metric "processor_dead_letters_total{pipeline=\"win-$S\"}")" = 2 ]
check "win counted e4 as time_ahead" \
    [ "$(metric "processor_records_total{pipeline=\"win-$S\",outcome=\"time_ahead\"}")" = 1 ]
check "dead letters counted for plain: 1" [ "$(metric "processor_dead_letters_total{pipeline=\"plain-$S\"}")" = 1 ]
check "records that are not events: 4 dead letters (2 records, 2 topics)" \
    [ "$(metric 'processor_dead_letters_total{pipeline=""}')" = 4 ]
check "quiet counted its expression error, sending nothing" \
    [ "$(metric "processor_records_total{pipeline=\"quiet-$S\",outcome=\"expression_error\"}")" = 1 ]
check "over read the dead letters and failed on e2 without sending it back" \
    [ "$(metric "processor_records_total{pipeline=\"over-$S\",outcome=\"expression_error\"}")" = 1 ]
check "a dead letter is logged" grep -q '"event":"dead_letter"' "$work/p1.log"

# the key past max_keys
for _ in $(seq 1 300); do
    [ "$(read_topic "$BDLQ" | wc -l)" -ge 1 ] && [ "$(read_topic d-bout-$S | wc -l)" -ge 1 ] && break
    sleep 0.1
done
read_topic "$BDLQ" >"$work/bdlq"
check "the bound's dead-letter topic holds 1 record ($(wc -l <"$work/bdlq"))" [ "$(wc -l <"$work/bdlq")" = 1 ]
check "it is y's event as the pipeline keyed it (after its map), under y's key" jqe \
    '.id == "y1" and .data == {"k": "y", "v": 2.0} and .time == "2026-01-01T00:00:02Z"' \
    <<<"$(cut -f3 "$work/bdlq")"
y_off=$(kcat -C -b "$KAFKA_BROKERS" -t "$IN2" -p 0 -e -q -f '%o %s\n' 2>/dev/null | awk 'index($0, "\"y1\"") { print $1 }')
check "its headers name the pipeline, the bound and y's record" \
    has "$work/bdlq" "$(cut -f3 "$work/bdlq")" "dlq_pipeline=bound-$S" dlq_pipeline_version=1 \
    "dlq_error=max_keys: the state of its input partition holds 1 key, the most it may, and none is this event's" \
    "dlq_topic=$IN2" dlq_partition=0 "dlq_offset=$y_off" ce_id=y1
check "its key is the event's (its subject, else its id: y1), as on events.late" [ "$(cut -f1 "$work/bdlq")" = y1 ]
bout=$(read_topic d-bout-$S | cut -f3)
check "x's first window is computed as before, y has none ($bout)" jqe \
    -s 'length == 1 and .[0].data.key == "x" and .[0].data.n == 2 and .[0].data.s == 4' <<<"$bout"
check "bound counted y as key_bound" \
    [ "$(metric "processor_records_total{pipeline=\"bound-$S\",outcome=\"key_bound\"}")" = 1 ]
check "and as its dead letter" [ "$(metric "processor_dead_letters_total{pipeline=\"bound-$S\"}")" = 1 ]
for _ in $(seq 1 30); do # the status is refreshed every second
    st=$(curl -s -H "Authorization: Bearer $ADMIN" "$U1/pipelines/bound-$S" | jq -c '.status.versions[0].keys')
    [ "$st" = '{"held":1,"fullest_partition":1,"refused":1,"max_keys":1}' ] && break
    sleep 0.2
done
check "the pipeline's status shows its keys against the bound ($st)" \
    [ "$st" = '{"held":1,"fullest_partition":1,"refused":1,"max_keys":1}' ]
st=$(curl -s -H "Authorization: Bearer $ADMIN" "$U1/pipelines/plain-$S" | jq -c '.status.versions[0]')
check "a stateless pipeline's status has no keys ($st)" jqe '.state == "running" and has("keys") == false' <<<"$st"

# the dry run lists them
r=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "{\"events\": [$(ev e1 1 '{"k":"a","v":1}'), $(ev e2 2 '{"k":"a","v":"x"}'), $AHEAD]}" "$U1/pipelines/win-$S/dry-run")
check "the dry run lists e2 as a dead letter with its index and reason ($r)" jqe \
    '.dead_letters[0] == {"index": 1, "error": "steps[0].map.v: string is not a double", "event": .dead_letters[0].event} and .dead_letters[0].event.id == "e2" and (.errors | length) == 0' \
    <<<"$r"
check "and e4, its time two hours after the request's" jqe \
    '(.dead_letters | length) == 2 and .dead_letters[1].index == 2 and (.dead_letters[1].error | test("^time: .* is more than 1h ahead of its record.s timestamp .* \\(max_time_ahead\\)$"))' \
    <<<"$r"

r=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "{\"events\": [$(ev x1 1 '{"k":"x","v":1}'), $(ev y1 2 '{"k":"y","v":2}'), {\"watermark\": \"max\"}]}" "$U1/pipelines/bound-$S/dry-run")
check "the dry run lists y past max_keys as a dead letter, as the pipeline keyed it ($r)" jqe \
    '.dead_letters == [{"index": 1, "error": "max_keys: the state of its input partition holds 1 key, the most it may, and none is this event'"'"'s", "event": .dead_letters[0].event}] and .dead_letters[0].event.data == {"k": "y", "v": 2.0} and (.results | length) == 1' \
    <<<"$r"

[ "$fail" = 0 ] && say "ok"
exit "$fail"
