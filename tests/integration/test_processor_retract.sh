#!/usr/bin/env bash
# test_processor_retract.sh <build-dir>: session windows with "retract": true against the
# harness's Redis and development broker, through the repartition topic:
#   - a late event that merges two sessions whose results went out withdraws both
#     (pipeline.retraction, each naming the result's id) before the merged result, in that order
#     on the sink's partition;
#   - the processor killed (-9) and started again resumes from its Redis checkpoint knowing which
#     results went out: a late event that stretches the merged session withdraws that result, and
#     only it.
# Each result says when it went out: the sessions' first results on_time, the merged and the
# stretched ones (made by late events) late; a retraction has no timing.
# A result or retraction written twice (read again after the kill) has the same id and value.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_retract.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${KAFKA_BROKERS:?run through tests/integration/run.sh}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor retract" proc-rt
S=$$
IN=rt-in-$S OUT=rt-out-$S NAME=visits-$S

mkdir -p "$work/pipelines"
cat >"$work/pipelines/visits.json" <<JSON
{"name": "$NAME", "source": {"topics": ["$IN"]}, "key": "subject",
 "window": {"type": "session", "gap": "10s", "retract": true}, "allowed_lateness": "10m",
 "idle_timeout": "1s", "aggregates": {"n": "count()"}, "sink": {"topic": "$OUT"}}
JSON
export PROCESSOR_PIPELINES_DIR=$work/pipelines JWT_HS256_SECRET=rt-test-secret-0123456789abcdef0123456789ab
P=$(stack_free_port)
it_start_processor p.log "$P" rt

T0=$(($(date +%s) - 600))
send() { # send <subject> <seconds after T0>: an event on partition 0 of the input
    printf '%s\t{"specversion":"1.0","type":"visit","source":"/rt","id":"%s-%s","subject":"%s","time":"%s"}\n' \
        "$1" "$1" "$2" "$1" "$(date -u -d "@$((T0 + $2))" +%Y-%m-%dT%H:%M:%SZ)" |
        kcat -P -b "$KAFKA_BROKERS" -t "$IN" -p 0 -K $'\t' 2>>"$work/kcat.log"
}
# the sink's records of u1, one line each: "<offset> <type> <id> <window start-end> <revision>
# <n> <result_id> <timing>", each id once (a record written again after the kill is checked for its value)
outputs() {
    timeout 10 kcat -C -b "$KAFKA_BROKERS" -X fetch.wait.max.ms=10 -t "$OUT" -e -q \
        -f '%o %s\n' 2>/dev/null | python3 -c '
import datetime, json, sys
t0, seen = int(sys.argv[1]), {}

def at(text):
    """seconds after T0 of an RFC 3339 time"""
    t = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp()) - t0

for line in sys.stdin:
    offset, value = line.split(" ", 1)
    e = json.loads(value)
    if e.get("subject") != "u1":
        continue
    if e["id"] in seen:  # written again (read again after the kill): the same value
        if seen[e["id"]] != value:
            print("DIFFERENT %s" % e["id"])
        continue
    seen[e["id"]] = value
    d = e["data"]
    print(offset, e["type"][len("pipeline."):], e["id"],
          "%d-%d" % (at(d["window_start"]), at(d["window_end"])), d["revision"], d.get("n", "-"),
          d.get("result_id", "-"), e.get("timing", "-"))
' "$T0"
}
count() { outputs | grep -c " $1 "; }

send u1 0
send u1 15
send x 40 # the watermark passes both sessions of u1 (the other partitions idle after 1 s)
wait_until 30 '[ "$(count result)" -ge 2 ]'
check "the two sessions of u1 fired ($(outputs | tr '\n' '|'))" [ "$(count result)" = 2 ]
check "... each its final result (timing on_time)" \
    [ "$(outputs | awk '$2 == "result" && $8 == "on_time"' | wc -l)" = 2 ]
send u1 8 # late: merges [0, 10) and [15, 25)
wait_until 30 '[ "$(count result)" -ge 3 ]'
out=$(outputs)
echo "$out" >"$work/after-merge"
first=$(awk '$2 == "result" && $4 == "0-10" { print $3 }' <<<"$out")
second=$(awk '$2 == "result" && $4 == "15-25" { print $3 }' <<<"$out")
merged=$(awk '$2 == "result" && $4 == "0-25" && $5 == 1 && $6 == 3 && $8 == "late" { print $1, $3 }' <<<"$out")
check "the merged session's result, revision 1 of 3 events, late ($(tr '\n' '|' <<<"$out"))" [ -n "$merged" ]
for pair in "0-10 $first" "15-25 $second"; do
    read -r window id <<<"$pair"
    r=$(awk -v w="$window" -v id="$id" '$2 == "retraction" && $4 == w && $5 == 0 && $7 == id && $8 == "-" { print $1 }' <<<"$out")
    { [ -n "$id" ] && [ -n "$r" ]; } || failed "the result of [$window) ($id) is withdrawn, by its id"
    { [ -n "$r" ] && [ -n "$merged" ] && [ "$r" -lt "${merged%% *}" ]; } ||
        failed "the retraction of [$window) goes before the merged result (offsets $r, ${merged%% *})"
done
check "nothing else: three results, two retractions" [ "$(wc -l <<<"$out")" = 5 ]

# killed after its checkpoint holds the merge (every 200 ms), then started again
sleep 1
kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
it_start_processor p2.log "$P" rt
send u1 20 # late: stretches [0, 25) to [0, 30)
wait_until 40 '[ "$(count retraction)" -ge 3 ]'
out=$(outputs)
echo "$out" >"$work/after-restart"
check "no id was written twice with another value" [ "$(grep -c DIFFERENT <<<"$out")" = 0 ]
mid=${merged#* }
check "after the restart, the merged result ($mid) is withdrawn ($(tr '\n' '|' <<<"$out"))" \
    [ -n "$(awk -v id="$mid" '$2 == "retraction" && $4 == "0-25" && $5 == 1 && $7 == id' <<<"$out")" ]
check "then [0, 30) goes out with revision 2 of 4 events, late" \
    [ -n "$(awk '$2 == "result" && $4 == "0-30" && $5 == 2 && $6 == 4 && $8 == "late"' <<<"$out")" ]
check "three retractions in all" [ "$(count retraction)" = 3 ]
[ "$fail" = 0 ] && say "ok ($(count result) results, $(count retraction) retractions)"
exit "$fail"
