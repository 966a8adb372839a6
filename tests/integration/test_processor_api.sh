#!/usr/bin/env bash
# test_processor_api.sh <build-dir>: pipelines through the processor's HTTP API, against the
# harness's PostgreSQL, Redis and development broker (run.sh exports their addresses).
#   - the admin scope: no token 401, a token without the scope 403;
#   - PUT validates (422 naming the field), creates (201, ETag "1"), a repeat of the same body is
#     a no-op (200, still "1"), If-Match with a stale ETag is refused (412) and If-None-Match: *
#     on an existing name too; GET answers the stored document with its ETag, the history and an
#     old version; a name in the body that differs from the path is 422, and so is a pipeline
#     that would read its own output (its sink, or, when windowed, the late events' topic); one
#     that would close a cycle of topics with another is 409 naming the way round;
#   - a second instance in the same group learns every change through LISTEN/NOTIFY;
#   - the hot swap loses no event: events before and after a change of the definition (v1 → v2,
#     adding an aggregate) come out as one result per key and window, windows that start before
#     v2's cut-over from v1 and the rest from v2, the counts adding up to exactly the events
#     produced, although one instance is killed with -9 while v1 drains and restarted (v1 comes
#     back from its checkpoints beside v2); v1 drains and stops;
#   - dry-run answers results without producing anything, with a stored or an inline definition,
#     stops at 100,000 outputs (truncated: true),
#     from a JSON body or NDJSON lines (errors naming the line), and refuses bad bodies;
#   - a rollup windowing another pipeline's window results by their time is warned of, on
#     either's write and in a dry run;
#   - batched outputs, a table join and an interval join on the same input, each checked against
#     what was produced (the interval join against a brute-force join);
#   - records on the repartition topic that no processor wrote are counted invalid;
#   - PUT ?reset=true drops the old version's state at once (its Redis checkpoints deleted, also
#     of a partition no instance holds; no version draining on either instance; the history marks
#     it);
#   - DELETE with If-Match stops the pipeline (then 404), its metric series leave /metrics on
#     both instances (another pipeline's stay), and it deletes the checkpoints of its
#     versions, of every partition, held or not.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_api.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${KAFKA_BROKERS:?}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor api" proc-api

export JWT_HS256_SECRET=api-test-secret-0123456789abcdef0123456789
ADMIN=$(DEVTOKEN_SCOPE='processor:admin' "$BIN/devtoken")
PLAIN=$(DEVTOKEN_SCOPE='events:write' "$BIN/devtoken")
S=$$
IN=api-in-$S OUT=api-out-$S NAME=perkey-$S

start_processor() { it_start_processor "$1" "$2" api; } # start_processor <log> <port>
P1=$(stack_free_port)
P2=$(stack_free_port)
start_processor p1.log "$P1"
start_processor p2.log "$P2"
U1=http://127.0.0.1:$P1 U2=http://127.0.0.1:$P2

req() { # req <method> <url> <token> [curl args...]: prints "<status> <body>"; headers in $work/h
    local m=$1 url=$2 tok=$3
    shift 3
    rm -f "$work/body" # (curl writes none when no answer comes: never show the one before)
    curl -s -o "$work/body" -D "$work/h" -w '%{http_code}' -X "$m" \
        ${tok:+-H "Authorization: Bearer $tok"} "$@" "$url"
    printf ' '
    cat "$work/body" 2>/dev/null
}
etag() { tr -d '\r' <"$work/h" | awk -F': ' 'tolower($1) == "etag" { print $2 }'; }
json() { curl -s -H "Authorization: Bearer $ADMIN" "$@"; }

# ---- authentication ----
r=$(req GET "$U1/pipelines" "")
check "no token is 401 ($r)" [ "${r%% *}" = 401 ]
r=$(req GET "$U1/pipelines" "$PLAIN")
check "a token without processor:admin is 403 ($r)" [ "${r%% *}" = 403 ]
r=$(req GET "$U1/pipelines" "$ADMIN")
check "the admin token lists ($r)" [ "${r%% *}" = 200 ]

# ---- validation and versions ----
# idle_timeout 5 s: longer than the test's pauses between batches (an input partition idle when
# the next batch comes lets the partitions read first move the watermark past the others' events
# of that batch, which are then late, as with a Flink source's idleness)
def() { # def <extra aggregates>
    cat <<JSON
{"source": {"topics": ["$IN"]}, "key": "data.k",
 "window": {"type": "tumbling", "size": "10s"}, "out_of_orderness": "0s", "idle_timeout": "5s",
 "aggregates": {"n": "count()"${1:-}}, "sink": {"topic": "$OUT"}}
JSON
}
H=(-H 'Content-Type: application/json')
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d '{"window": {"type": "tumbling", "size": "-3s"}, "aggregates": {"n": "count()"}}')
{ [ "${r%% *}" = 422 ] && [[ "$r" == *window.size* ]]; } || failed "a bad window is 422 naming window.size ($r)"
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d '{"name": "other", "aggregates": {"n": "count()"}}')
{ [ "${r%% *}" = 422 ] && [[ "$r" == *name* ]]; } || failed "a name differing from the path is 422 ($r)"
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d '[1,2]')
check "a body that is not an object is 422 ($r)" [ "${r%% *}" = 422 ]
r=$(req PUT "$U1/pipelines/bad%20name" "$ADMIN" "${H[@]}" -d "$(def)")
check "a bad name is 400 ($r)" [ "${r%% *}" = 400 ]
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d "{\"source\": {\"topics\": [\"$OUT\"]}, \"sink\": {\"topic\": \"$OUT\"}}")
{ [ "${r%% *}" = 422 ] && [[ "$r" == *sink.topic* ]]; } || failed "a pipeline reading its own sink is 422 naming sink.topic ($r)"
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d "{\"source\": {\"topics\": [\"$IN\", \"api-late-$S\"]}, \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"10s\"}, \"aggregates\": {\"n\": \"count()\"}, \"sink\": {\"topic\": \"$OUT\"}}")
{ [ "${r%% *}" = 422 ] && [[ "$r" == *'source.topics[1]'* ]]; } || failed "a windowed pipeline reading its late events' topic is 422 naming source.topics[1] ($r)"
# two pipelines each reading what the other writes: the second is refused (409), naming the way
# round; nothing of it is stored
r=$(req PUT "$U1/pipelines/loop-a-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["api-loop-'$S'"]}, "steps": [{"map": {"v": "data.v"}}], "sink": {"topic": "api-loop2-'$S'"}}')
check "a pipeline off any cycle is stored ($r)" [ "${r%% *}" = 201 ]
r=$(req PUT "$U1/pipelines/loop-b-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["api-loop2-'$S'"]}, "steps": [{"map": {"v": "data.v"}}], "sink": {"topic": "api-loop-'$S'"}}')
{ [ "${r%% *}" = 409 ] && [[ "$r" == *"sink.topic: events would go round without end: this pipeline writes 'api-loop-$S' (its sink), pipeline 'loop-a-$S' reads it and writes 'api-loop2-$S' (its sink), which this pipeline reads"* ]]; } ||
    failed "a pipeline closing a cycle with another is 409 naming sink.topic and the way round ($r)"
r=$(req GET "$U1/pipelines/loop-b-$S" "$ADMIN")
check "the refused pipeline is not stored ($r)" [ "${r%% *}" = 404 ]
r=$(req DELETE "$U1/pipelines/loop-a-$S" "$ADMIN")
check "the other one deleted ($r)" [ "${r%% *}" = 204 ]
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" -H 'Content-Type: text/plain' -d "$(def)")
check "a body that is not JSON by its type is 415 ($r)" [ "${r%% *}" = 415 ]
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -H 'If-Match: "1"' -d "$(def)")
check "If-Match on a missing pipeline is 412 ($r)" [ "${r%% *}" = 412 ]
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d "$(def)")
{ [ "${r%% *}" = 201 ] && [ "$(etag)" = '"1"' ]; } || failed "PUT creates ($r)"
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -d "$(def)")
{ [ "${r%% *}" = 200 ] && [ "$(etag)" = '"1"' ] && [[ "$r" == *'"unchanged":true'* ]]; } || failed "the same body again changes nothing ($r)"
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -H 'If-None-Match: *' -d "$(def ', "x": "max(data.v)"')")
{ [ "${r%% *}" = 412 ] && [ "$(etag)" = '"1"' ]; } || failed "If-None-Match: * on an existing pipeline is 412 ($r)"
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -H 'If-Match: "7"' -d "$(def ', "x": "max(data.v)"')")
{ [ "${r%% *}" = 412 ] && [ "$(etag)" = '"1"' ]; } || failed "a stale If-Match is 412 with the current ETag ($r)"
r=$(req GET "$U2/pipelines/$NAME" "$ADMIN")
{ [ "${r%% *}" = 200 ] && [ "$(etag)" = '"1"' ] && [[ "$r" == *'"topics":["'$IN'"]'* ]]; } || failed "the other instance answers the stored definition ($r)"

applied() { # applied <url>: definition versions this instance took into force
    curl -s "$1/metrics" | awk '$1 == "processor_definitions_changes_total{kind=\"pipelines\",outcome=\"applied\"}" { print $2 }'
}
running() { # running <url> <version>: 1 when the instance runs that version of the pipeline
    json "$1/pipelines/$NAME" | grep -q "{\"version\":$2,\"state\":\"running\"" && echo 1
}
for _ in $(seq 1 100); do
    [ "$(running "$U1" 1)" = 1 ] && [ "$(running "$U2" 1)" = 1 ] && break
    sleep 0.1
done
check "both instances run version 1" [ "$(running "$U1" 1)$(running "$U2" 1)" = 11 ]

# ---- events before and after a swap ----
now_ms() { date +%s%3N; }
KEYS=20
produce() { # produce <first id> <count> <event time ms> <time step ms>
    awk -v a="$1" -v n="$2" -v t0="$3" -v step="$4" -v keys=$KEYS 'BEGIN {
        for (i = a; i < a + n; i++) {
            t = t0 + (i - a) * step; s = int(t / 1000); ms = t % 1000
            printf "s%d\t{\"type\":\"t\",\"source\":\"/api\",\"id\":\"e%d\",\"subject\":\"s%d\",\"time\":\"%s.%03dZ\",\"data\":{\"k\":\"k%d\",\"v\":%d}}\n",
                i % 7, i, i % 7, strftime("%Y-%m-%dT%H:%M:%S", s, 1), ms, i % keys, i % 5
        }
    }' | tee -a "$work/produced" | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
}
# a stateless pipeline on the same input whose outputs come in batches of at most 50
r=$(req PUT "$U1/pipelines/batched-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["'$IN'"]}, "steps": [{"map": {"k": "data.k"}}], "sink": {"topic": "api-batches-'$S'"}, "batch": {"max": 50, "timeout": "1s"}}')
check "a batched pipeline is created ($r)" [ "${r%% *}" = 201 ]
# a table (a compacted topic's rows) joined to the same input: k0..k9 have a row, the rest none
for i in $(seq 0 9); do printf 'k%d\t{"tier":%d}\n' "$i" "$i"; done |
    kcat -P -b "$KAFKA_BROKERS" -t api-tiers-$S -K $'\t' 2>>"$work/kcat.log"
r=$(req PUT "$U1/pipelines/joined-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["'$IN'"]}, "steps": [{"join": {"topic": "api-tiers-'$S'", "key": "data.k", "as": "tier", "type": "left"}}], "sink": {"topic": "api-joined-'$S'"}}')
check "a pipeline joining a table is created ($r)" [ "${r%% *}" = 201 ]
[[ "$r" != *steps[0].join.topic* ]] || failed "a table's topic that exists is not warned about ($r)"
# topics the cluster does not know (typos, or not created yet): stored, with a warning for each
# and a filter reading a field of data the map before it does not make
r=$(req PUT "$U1/pipelines/typo-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["api-tiers-'$S'", "api-nosuch-'$S'"]}, "steps": [{"map": {"k": "data.k"}}, {"join": {"topic": "api-notable-'$S'", "key": "data.k", "as": "t"}}, {"filter": "data.t.tier > data.v"}], "sink": {"topic": "api-typo-out-'$S'"}}')
{ [ "${r%% *}" = 201 ] && [[ "$r" == *"\"warnings\":[\"steps[2].filter: reads data.v, which no event holds there: after the map of steps[0], data holds only k, t\",\"source.topics[1]: the cluster has no topic 'api-nosuch-$S' (yet)"* ]] &&
    [[ "$r" == *"steps[1].join.topic: the cluster has no topic 'api-notable-$S' (yet)"* ]] && [[ "$r" != *"source.topics[0]"* ]]; } ||
    failed "a pipeline over topics the cluster lacks is stored, each warned about by its field ($r)"
grep -q '"event":"pipeline_warning".*api-nosuch-'$S "$work/p1.log" || failed "the missing topic is logged"
r=$(req DELETE "$U1/pipelines/typo-$S" "$ADMIN")
check "the pipeline over missing topics deleted ($r)" [ "${r%% *}" = 204 ]
# a rollup windowing another pipeline's window results by their time (each window's end, the
# next window's first instant) is warned of, on either side's write; one taking its times from
# window_start is not
r=$(req PUT "$U1/pipelines/minutes-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "1m"}, "aggregates": {"n": "count()"}, "sink": {"topic": "api-minutes-'$S'"}}')
check "a per-minute pipeline is created ($r)" [ "${r%% *}" = 201 ]
for _ in $(seq 1 100); do json "$U1/pipelines/minutes-$S" | grep -q '"state":"running"' && break; sleep 0.1; done
HOURS='{"source": {"topics": ["api-minutes-'$S'"]TIME}, "key": "data.key", "window": {"type": "tumbling", "size": "1h"}, "aggregates": {"n": "sum(data.n)"}, "sink": {"topic": "api-hours-'$S'"}}'
r=$(req PUT "$U1/pipelines/hours-$S" "$ADMIN" "${H[@]}" -d "${HOURS/TIME/}")
{ [ "${r%% *}" = 201 ] && [[ "$r" == *"\"warnings\":[\"source.topics[0]: pipeline 'minutes-$S' writes the results of windows to 'api-minutes-$S', each with its window's end as its time"*"give \\\"source.time\\\": \\\"data.window_start\\\""* ]]; } ||
    failed "a rollup over window results by their time is stored, with a warning naming the writer ($r)"
for _ in $(seq 1 100); do json "$U1/pipelines/hours-$S" | grep -q '"state":"running"' && break; sleep 0.1; done
r=$(req PUT "$U1/pipelines/minutes-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "1m"}, "aggregates": {"n": "count()", "m": "count()"}, "sink": {"topic": "api-minutes-'$S'"}}')
{ [ "${r%% *}" = 200 ] && [[ "$r" == *"\"warnings\":[\"sink.topic: pipeline 'hours-$S' reads 'api-minutes-$S' and windows it by time"* ]]; } ||
    failed "the writer's change is warned of the rollup reading it ($r)"
r=$(req PUT "$U1/pipelines/hours-$S" "$ADMIN" "${H[@]}" -d "${HOURS/TIME/, \"time\": \"data.window_start\"}")
{ [ "${r%% *}" = 200 ] && [[ "$r" != *"results of windows"* ]]; } || failed "a rollup by window_start is not warned of ($r)"
# a dry run of such a rollup says so too (a minute's result at 00:59 counted in the next hour)
ROW='{"specversion": "1.0", "id": "r1", "source": "processor/minutes-'$S'", "type": "pipeline.result", "time": "2026-01-01T01:00:00Z", "data": {"key": "k1", "window_start": "2026-01-01T00:59:00Z", "n": 4}}'
r=$(req POST "$U1/pipelines/hours2-$S/dry-run" "$ADMIN" "${H[@]}" -d '{"definition": '"${HOURS/TIME/}"', "events": ['"$ROW"']}')
{ [ "${r%% *}" = 200 ] && [ "$(jq -r '.results[0].data.window_start' "$work/body")" = 2026-01-01T01:00:00.000Z ] &&
    [[ "$(jq -r '.warnings[0]' "$work/body")" == "source.topics[0]: pipeline 'minutes-$S' writes the results of windows"* ]]; } ||
    failed "a dry run of a rollup by the results' time warns of it ($r)"
r=$(req POST "$U1/pipelines/hours2-$S/dry-run" "$ADMIN" "${H[@]}" -d '{"definition": '"${HOURS/TIME/, \"time\": \"data.window_start\"}"', "events": ['"$ROW"']}')
{ [ "${r%% *}" = 200 ] && [ "$(jq -r '.results[0].data.window_start' "$work/body")" = 2026-01-01T00:00:00.000Z ] &&
    [ "$(jq 'has("warnings")' "$work/body")" = false ]; } || failed "a dry run of a rollup by window_start: the hour it covers, no warning ($r)"
for p in hours minutes; do
    r=$(req DELETE "$U1/pipelines/$p-$S" "$ADMIN")
    check "$p deleted ($r)" [ "${r%% *}" = 204 ]
done
# the same rows in a Redis hash, joined the same way (looked up when needed)
for i in $(seq 0 9); do
    redis-cli -p "$REDIS_PORT" HSET "api-tiers-$S" "k$i" "{\"tier\":$i}" >/dev/null
done
r=$(req PUT "$U1/pipelines/rjoined-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["'$IN'"]}, "steps": [{"join": {"redis_hash": "api-tiers-'$S'", "key": "data.k", "as": "tier", "type": "left"}}], "sink": {"topic": "api-rjoined-'$S'"}}')
check "a pipeline joining a Redis hash is created ($r)" [ "${r%% *}" = 201 ]
# a Redis hash is no topic: neither warned of, nor counted missing (a gauge at 1 would alert)
check "... without a warning of a missing topic ($r)" eval '! grep -q "no topic" <<<"$r"'
# an interval join of the same input with itself: events with v = 0 (left) and v = 1 (right)
# of one subject pair up when no more than 1 s apart
r=$(req PUT "$U1/pipelines/paired-$S" "$ADMIN" "${H[@]}" -d '{"source": {"topics": ["'$IN'"]}, "key": "subject", "interval_join": {"left": {"filter": "data.v == 0"}, "right": {"filter": "data.v == 1"}, "lower": "-1s", "upper": "1s"}, "sink": {"topic": "api-paired-'$S'"}}')
check "an interval-join pipeline is created ($r)" [ "${r%% *}" = 201 ]
for p in batched joined rjoined paired; do
    for _ in $(seq 1 100); do
        json "$U1/pipelines/$p-$S" | grep -q '"state":"running"' && json "$U2/pipelines/$p-$S" | grep -q '"state":"running"' && break
        sleep 0.1
    done
done
check "the Redis-hash join has no missing topic in its status" \
    [ "$(json "$U1/pipelines/rjoined-$S" | jq -c '.status.missing_topics')" = null ]
check "... nor in processor_pipeline_topics_missing" \
    [ "$(curl -s "$U1/metrics" | sed -n "s/^processor_pipeline_topics_missing{pipeline=\"rjoined-$S\"} //p")" = 0 ]
NOW=$(now_ms)
produce 0 400 $((NOW - 60000)) 50       # event time now-60 s .. now-40 s
sleep 1
CUT0=$(( ($(now_ms) + 9999) / 10000 * 10000 )) # lower bound of v2's cut-over
r=$(req PUT "$U1/pipelines/$NAME" "$ADMIN" "${H[@]}" -H 'If-Match: "1"' -d "$(def ', "s": "sum(data.v)"')")
{ [ "${r%% *}" = 200 ] && [ "$(etag)" = '"2"' ]; } || failed "PUT with the current ETag makes version 2 ($r)"
CUT=$(( ($(now_ms) + 9999) / 10000 * 10000 )) # upper bound of v2's cut-over
for _ in $(seq 1 100); do
    [ "$(running "$U1" 2)" = 1 ] && [ "$(running "$U2" 2)" = 1 ] && break
    sleep 0.1
done
check "both instances run version 2" [ "$(running "$U1" 2)$(running "$U2" 2)" = 11 ]
{ [ "$(applied "$U1")" -ge 2 ] && [ "$(applied "$U2")" -ge 2 ]; } || failed "each instance applied both versions"
produce 400 200 $((NOW - 20000)) 50     # still before the cut-over: version 1's windows
# kill -9 of an instance while version 1 drains: it comes back with version 2 and, restored from
# its checkpoints, version 1 draining beside it (the counts below still add up exactly)
sleep 1
kill -KILL "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
start_processor p1.log "$P1"
for _ in $(seq 1 150); do
    [ "$(running "$U1" 2)" = 1 ] && break
    sleep 0.1
done
check "the instance killed (-9) mid-drain runs version 2 again" [ "$(running "$U1" 2)" = 1 ]
json "$U1/pipelines/$NAME" >"$work/status"
check "... with version 1 draining beside it ($(cat "$work/status"))" grep -q '{"version":1,"state":"draining"' "$work/status"
produce 600 400 $((CUT + 1000)) 50      # after it: version 2's
produce 1000 $KEYS $((CUT + 600000)) 0  # far ahead: moves every watermark past every window
TOTAL=1000

results() { kcat -C -b "$KAFKA_BROKERS" -t "$OUT" -e -q -f '%s\n' 2>/dev/null; }
for _ in $(seq 1 200); do
    got=$(results | jq -s 'unique_by(.id) | map(.data.n) | add // 0' 2>/dev/null)
    [ "${got:-0}" -ge $TOTAL ] && break
    sleep 0.2
done
results >"$work/results"
check "results came out ($(wc -l <"$work/results") records)" [ -s "$work/results" ]
jq -s 'unique_by(.id)' "$work/results" >"$work/counted.json"
n=$(jq 'map(.data.n) | add // 0' "$work/counted.json")
check "every event produced counted exactly once across the versions (got $n of $TOTAL)" [ "$n" = $TOTAL ]
dups=$(jq 'group_by([.data.key, .data.window_start]) | map(select(length > 1)) | length' "$work/counted.json")
check "one result per key and window ($dups duplicated)" [ "$dups" = 0 ]
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S.000Z; }
v1_late=$(jq --arg c "$(iso "$CUT")" 'map(select(.data.version == 1 and .data.window_start >= $c)) | length' "$work/counted.json")
v2_early=$(jq --arg c "$(iso "$CUT0")" 'map(select(.data.version == 2 and .data.window_start < $c)) | length' "$work/counted.json")
v1=$(jq 'map(select(.data.version == 1)) | length' "$work/counted.json")
v2=$(jq 'map(select(.data.version == 2 and (.data | has("s")))) | length' "$work/counted.json")
{ [ "$v1" -gt 0 ] && [ "$v2" -gt 0 ]; } || failed "version 1 gave the windows before the swap ($v1) and version 2 those after ($v2)"
check "no version-1 window starts at or after the cut-over ($v1_late)" [ "$v1_late" = 0 ]
check "no version-2 window starts before the swap ($v2_early)" [ "$v2_early" = 0 ]
for _ in $(seq 1 100); do
    grep -q "pipeline_drained.*$NAME version 1" "$work"/p?.log && break
    sleep 0.1
done
check "version 1 drained and stopped" grep -q "pipeline_drained.*$NAME version 1" "$work"/p1.log "$work"/p2.log
check "late events: none" [ "$(kcat -C -b "$KAFKA_BROKERS" -t api-late-$S -e -q 2>/dev/null | wc -l)" = 0 ]

# records on the repartition topic that no processor wrote are counted invalid: an event with
# headers as an early build wrote them, a frame that is not one, and a watermark report that is
# not JSON (waited for up to 40 s: a rebalance may hold the partitions meanwhile)
invalid() { # invalid: processor_invalid_records_total of both instances together
    for u in "$U1" "$U2"; do curl -s "$u/metrics"; done |
        awk '$1 == "processor_invalid_records_total" { s += $2 } END { print s + 0 }'
}
inv0=$(invalid)
t=$(date -u -d "@$(((NOW - 50000) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
printf 'k0\t{"type":"t","source":"/api","id":"x1","subject":"s0","time":"%s","data":{"k":"k0","v":1}}\n' "$t" |
    kcat -P -b "$KAFKA_BROKERS" -t "$NAME.repartition" -K $'\t' -H origin=0:9999:0 -H version=2 \
        -H wm=0 2>>"$work/kcat.log"
printf '\002not a frame' | kcat -P -b "$KAFKA_BROKERS" -t "$NAME.repartition" -H kind=frame \
    -H version=2 2>>"$work/kcat.log"
printf '{"watermarks": 7' | kcat -P -b "$KAFKA_BROKERS" -t "$NAME.repartition" -H kind=watermark \
    -H version=2 2>>"$work/kcat.log"
for _ in $(seq 1 400); do
    [ "$(invalid)" -ge $((inv0 + 3)) ] && break
    sleep 0.1
done
check "3 foreign records on the repartition topic counted invalid ($inv0 -> $(invalid))" \
    [ "$(invalid)" -ge $((inv0 + 3)) ]

# ---- batches: every transformed event exactly once, in batches of at most 50 ----
for _ in $(seq 1 100); do
    got=$(kcat -C -b "$KAFKA_BROKERS" -t api-batches-$S -e -q 2>/dev/null | jq -s 'map(.data.results[].id) | unique | length')
    [ "${got:-0}" -ge $((TOTAL + KEYS)) ] && break
    sleep 0.2
done
kcat -C -b "$KAFKA_BROKERS" -t api-batches-$S -e -q 2>/dev/null >"$work/batches"
check "batched outputs: $got of $((TOTAL + KEYS)) events" [ "${got:-0}" = $((TOTAL + KEYS)) ]
check "every batch is a pipeline.batch of 1 to 50 outputs, count matching" \
    [ "$(jq -s 'map(select(.type == "pipeline.batch" and .data.count >= 1 and .data.count <= 50 and .data.count == (.data.results | length))) | length' "$work/batches")" = "$(wc -l <"$work/batches")" ]
check "some batch is full" [ "$(jq -s 'map(select(.data.count == 50)) | length' "$work/batches")" -gt 0 ]

# ---- the join: each event once, with its row when the table has one (left join) ----
kcat -C -b "$KAFKA_BROKERS" -t api-joined-$S -e -q 2>/dev/null >"$work/joined"
with=$(jq -s 'unique_by(.sourceevent) | map(select(.data.tier.tier == (.data.k | ltrimstr("k") | tonumber))) | length' "$work/joined")
without=$(jq -s 'unique_by(.sourceevent) | map(select(.data.tier == null and (.data.k | ltrimstr("k") | tonumber) >= 10)) | length' "$work/joined")
want=$(cut -f2 "$work/produced" | jq -s 'map(select((.data.k | ltrimstr("k") | tonumber) < 10)) | length')
{
    [ "$with" = "$want" ] && [ "$without" = $((TOTAL + KEYS - want)) ] && [ "$want" -gt 0 ]; } || failed "joined: $with events with their row (expected $want), $without without (expected $((TOTAL + KEYS - want)))"
kcat -C -b "$KAFKA_BROKERS" -t api-rjoined-$S -e -q 2>/dev/null >"$work/rjoined"
with=$(jq -s 'unique_by(.sourceevent) | map(select(.data.tier.tier == (.data.k | ltrimstr("k") | tonumber))) | length' "$work/rjoined")
without=$(jq -s 'unique_by(.sourceevent) | map(select(.data.tier == null and (.data.k | ltrimstr("k") | tonumber) >= 10)) | length' "$work/rjoined")
{
    [ "$with" = "$want" ] && [ "$without" = $((TOTAL + KEYS - want)) ]; } || failed "joined from the Redis hash: $with with their row (expected $want), $without without"

# ---- the interval join: exactly the pairs a brute-force join of the produced events finds ----
cut -f2 "$work/produced" | jq -s '[.[] | {id, s: .subject, v: .data.v,
        t: ((.time[0:19] + "Z" | fromdateiso8601) * 1000 + (.time[20:23] | tonumber))}] as $e
    | [$e[] | select(.v == 0) as $l | $e[] | select(.v == 1 and .s == $l.s and .t - $l.t >= -1000
        and .t - $l.t <= 1000) | "\($l.id)-\(.id)"] | sort' >"$work/pairs.want"
want=$(jq length "$work/pairs.want")
for _ in $(seq 1 100); do
    got=$(kcat -C -b "$KAFKA_BROKERS" -t api-paired-$S -e -q 2>/dev/null | jq -s 'unique_by(.id) | length')
    [ "${got:-0}" -ge "$want" ] && break
    sleep 0.2
done
kcat -C -b "$KAFKA_BROKERS" -t api-paired-$S -e -q 2>/dev/null >"$work/paired"
jq -s 'unique_by(.id) | map("\(.data.ids.left)-\(.data.ids.right)") | sort' "$work/paired" >"$work/pairs.got"
{
    [ "$want" -gt 50 ] && cmp -s "$work/pairs.want" "$work/pairs.got"; } || failed "interval join: the $want pairs of a brute-force join, each once (got $(jq length "$work/pairs.got"))"
check "interval join: every output is a pipeline.joined with both sides' data" \
    [ "$(jq -s 'map(select(.type == "pipeline.joined" and .data.left.v == 0 and .data.right.v == 1)) | length' "$work/paired")" = "$(wc -l <"$work/paired")" ]

# ---- history ----
r=$(req GET "$U1/pipelines/$NAME/versions" "$ADMIN")
check "history holds both versions ($r)" [ "$(jq '.versions | length' "$work/body")" = 2 ]
r=$(req GET "$U1/pipelines/$NAME?version=1" "$ADMIN")
check "version 1 is readable ($r)" [ "$(jq '.definition.aggregates | has("s")' "$work/body")" = false ]

# ---- dry run ----
before=$(results | wc -l)
ev='{"type":"t","source":"/d","id":"d1","time":"2026-01-01T00:00:01Z","data":{"k":"a","v":2}}'
ev2='{"type":"t","source":"/d","id":"d2","time":"2026-01-01T00:00:03Z","data":{"k":"a","v":3}}'
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d "{\"events\": [$ev, $ev2, {\"nope\": 1}]}")
{ [ "${r%% *}" = 200 ] && [ "$(jq '.results[0].data.n' "$work/body")" = 2 ] && [ "$(jq '.results[0].data.s' "$work/body")" = 5 ] && [ "$(jq '.errors[0].index' "$work/body")" = 2 ]; } || failed "dry run with the stored definition ($r)"
check "dry run: the entry that is not a CloudEvent is named with its field ($(jq -c '.errors[0].message' "$work/body"))" \
    [ "$(jq -r '.errors[0].message' "$work/body")" = "not a CloudEvent: 'type' is required" ]
bad='{"type":"t","source":"/d","id":"d9","time":"2026-13-01T00:00:00Z","data":{"k":"a","v":1}}'
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d "{\"events\": [$bad]}")
{ [ "${r%% *}" = 200 ] &&
    [ "$(jq -r '.errors[0].message' "$work/body")" = "not a CloudEvent: 'time' must be an RFC 3339 timestamp" ]; } || failed "dry run: an event whose time is not RFC 3339 is named so ($r)"
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d "{\"definition\": {\"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": {\"m\": \"max(data.v)\"}}, \"events\": [$ev, $ev2]}")
{ [ "${r%% *}" = 200 ] && [ "$(jq '.results | length' "$work/body")" = 2 ] && [ "$(jq 'has("warnings")' "$work/body")" = false ]; } ||
    failed "dry run with an inline definition ($r)"
# a definition whose aggregate reads a field its map does not make: the same warning as its PUT,
# and the values it could not use leave the sum without any (null, as SQL's SUM)
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d "{\"definition\": {\"steps\": [{\"map\": {\"k\": \"data.k\"}}], \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\"}}, \"events\": [$ev, $ev2]}")
{ [ "${r%% *}" = 200 ] && [ "$(jq -c '[.results[0].data.n, .results[0].data.s]' "$work/body")" = '[1,null]' ] &&
    [ "$(jq -r '.warnings[0]' "$work/body")" = "aggregates.s: reads data.v, which no event holds there: after the map of steps[0], data holds only k" ]; } ||
    failed "dry run of a definition reading a field its map does not make warns as a PUT ($r)"
# input partitions as in pipeline-run: partition 1, named first, holds the watermark back, so
# its event at 3 s after partition 0's at 5 s is on time (one partition: late)
ev5='{"type":"t","source":"/d","id":"d5","time":"2026-01-01T00:00:05Z","data":{"k":"a","v":5}}'
ev3b='{"type":"t","source":"/d","id":"d3","time":"2026-01-01T00:00:03Z","data":{"k":"b","v":3}}'
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d "{\"definition\": {\"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": {\"n\": \"count()\"}}, \"events\": [{\"partition\": 1}, {\"partition\": 0}, $ev, $ev5, {\"partition\": 1}, $ev3b, {\"partition\": -1}]}")
{ [ "${r%% *}" = 200 ] && [ "$(jq -c '[(.results | length), (.late | length), .errors[0].index]' "$work/body")" = '[3,0,6]' ]; } || failed "dry run over two input partitions ($r)"
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d "{\"definition\": {\"window\": {\"type\": \"round\"}}, \"events\": []}")
{ [ "${r%% *}" = 422 ] && [[ "$r" == *window.type* ]]; } || failed "dry run with a bad definition is 422 ($r)"
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -d '{"events": 3}')
{ [ "${r%% *}" = 422 ] && [[ "$r" == *events* ]]; } || failed "dry run without an events array is 422 ($r)"
printf '%s\n\n%s\n[1]\n' "$ev" "$ev2" >"$work/dry.ndjson"
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" -H 'Content-Type: application/x-ndjson' --data-binary @"$work/dry.ndjson")
{ [ "${r%% *}" = 200 ] && [ "$(jq '.results[0].data.n' "$work/body")" = 2 ] && [ "$(jq -c '.errors[0] | [.index, .line]' "$work/body")" = '[2,4]' ]; } || failed "dry run of NDJSON lines, an error naming its line ($r)"
r=$(req POST "$U1/pipelines/$NAME/dry-run?flush=false" "$ADMIN" -H 'Content-Type: application/x-ndjson' --data-binary @"$work/dry.ndjson")
{ [ "${r%% *}" = 200 ] && [ "$(jq '.results | length' "$work/body")" = 0 ]; } || failed "dry run of NDJSON with ?flush=false keeps the window open ($r)"
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" -H 'Content-Type: application/x-ndjson' --data-binary $'{"a": 1}\n{"b": ')
{ [ "${r%% *}" = 400 ] && [[ "$r" == *"line 2"* ]]; } || failed "dry run of an NDJSON line that is not JSON is 400 naming the line ($r)"
r=$(req POST "$U1/pipelines/nothing-$S/dry-run" "$ADMIN" "${H[@]}" -d '{"events": []}')
check "dry run of an unknown pipeline is 404 ($r)" [ "${r%% *}" = 404 ]
# a dry run that would emit more than 100,000 outputs (400 events in 86,400 hopping windows each:
# 35 million) stops at 100,000 and says so, within seconds; it used to compute them all, 0.3 s
# of a thread per event (2 minutes here, 40 for the 8,000 events a request can hold). It takes
# about 9 s under the sanitizers alone, and took over a minute once beside the other tests, so
# the answer is awaited for 5 minutes: what it holds shows that the run stopped.
python3 - >"$work/hop.json" <<'PY'
import json
evs = [{"type": "t", "source": "/s", "id": "e%d" % i, "subject": "k%d" % i,
        "time": "2026-01-01T00:%02d:%02d.000Z" % (i // 60, i % 60)} for i in range(400)]
print(json.dumps({"definition": {"key": "subject", "window": {"type": "hopping", "size": "1d",
                  "slide": "1s"}, "aggregates": {"n": "count()"}}, "events": evs}))
PY
took=$SECONDS
r=$(req POST "$U1/pipelines/$NAME/dry-run" "$ADMIN" "${H[@]}" -m 300 --data @"$work/hop.json")
took=$((SECONDS - took))
got=$(printf '%s' "${r#* }" | python3 -c 'import json, sys; d = json.load(sys.stdin); r = d["results"]
print(len(r), d.get("truncated"), r[0]["data"]["key"], r[0]["data"]["window_end"])' 2>&1)
check "a dry run past 100,000 outputs stops there, with truncated: true (${r%% *} in $took s: $got)" \
    [ "$got" = "100000 True k0 2026-01-01T00:00:01.000Z" ]
sleep 0.5
check "the dry runs produced nothing" [ "$(results | wc -l)" = "$before" ]

# ---- ?reset=true: the old version's state is dropped at once, nothing drains ----
v3=$(def ', "s": "sum(data.v)", "m": "max(data.v)"')
r=$(req PUT "$U1/pipelines/$NAME?reset=maybe" "$ADMIN" "${H[@]}" -d "$v3")
{ [ "${r%% *}" = 400 ] && [[ "$r" == *reset* ]]; } || failed "?reset=maybe is 400 naming reset ($r)"
v2keys() { redis-cli -p "$REDIS_PORT" --scan --pattern "{processor:$NAME:*}:v2" | wc -l; }
before=$(v2keys)
check "version 2 has checkpoints before the reset ($before)" [ "$before" -gt 0 ]
# a checkpoint of a partition no instance holds (one held by an instance gone, or during a
# rebalance): the reset deletes it too
redis-cli -p "$REDIS_PORT" HSET "{processor:$NAME:77}:v2" offset 5 >/dev/null
before=$((before + 1))
r=$(req PUT "$U1/pipelines/$NAME?reset=true" "$ADMIN" "${H[@]}" -H 'If-Match: "2"' -d "$v3")
{ [ "${r%% *}" = 200 ] && [ "$(etag)" = '"3"' ]; } || failed "PUT ?reset=true stores version 3 ($r)"
versions() { json "$1/pipelines/$NAME" | jq -c '[.status.versions[] | [.version, .state]]'; }
for _ in $(seq 1 100); do
    [ "$(versions "$U1")" = '[[3,"running"]]' ] && [ "$(versions "$U2")" = '[[3,"running"]]' ] &&
        [ "$(v2keys)" = 0 ] && break
    sleep 0.1
done
{
    [ "$(versions "$U1")" = '[[3,"running"]]' ] && [ "$(versions "$U2")" = '[[3,"running"]]' ]; } || failed "both instances run version 3 alone, none draining ($(versions "$U1") $(versions "$U2"))"
check "version 2's checkpoints are deleted ($(v2keys) left of $before)" [ "$(v2keys)" = 0 ]
check "an instance logs that version 2's state was dropped" \
    grep -q "version 3 replaces the previous one (its state dropped)" "$work/p1.log" "$work/p2.log"
r=$(req GET "$U1/pipelines/$NAME/versions" "$ADMIN")
check "the history marks version 3 as a reset ($r)" \
    [ "$(jq -c '[.versions[] | .reset]' "$work/body")" = '[false,false,true]' ]

# ---- delete ----
# the deletion takes every checkpoint of the versions before it, of partitions held or not; a
# key that only looks alike, or of a later version, stays
for k in "{processor:$NAME:77}:v3" "{processor:$NAME:78}:v1" "{processor:$NAME:77}:v9" \
    "{processor:$NAME:77}:v2x" "{processor:$NAME-other:1}:v1"; do
    redis-cli -p "$REDIS_PORT" HSET "$k" offset 5 >/dev/null
done
series() { curl -s "$1/metrics" | grep -c "{pipeline=\"$2\""; }
check "the pipeline has metric series before its deletion ($(series "$U1" "$NAME"))" [ "$(series "$U1" "$NAME")" -gt 0 ]
r=$(req DELETE "$U1/pipelines/$NAME" "$ADMIN" -H 'If-Match: "1"')
check "DELETE with a stale ETag is 412 ($r)" [ "${r%% *}" = 412 ]
r=$(req DELETE "$U1/pipelines/$NAME" "$ADMIN" -H 'If-Match: "3"')
check "DELETE ($r)" [ "${r%% *}" = 204 ]
r=$(req GET "$U2/pipelines/$NAME" "$ADMIN")
check "deleted is 404 ($r)" [ "${r%% *}" = 404 ]
for _ in $(seq 1 100); do
    grep -q "pipeline_deleted.*$NAME" "$work/p2.log" && break
    sleep 0.1
done
check "the other instance stopped it" grep -q "pipeline_deleted.*$NAME" "$work/p2.log"
# its series (records, watermark, keys, ...) leave /metrics on both instances; another's stay
wait_until 10 '[ "$(series '$U1' '$NAME')" = 0 ] && [ "$(series '$U2' '$NAME')" = 0 ]' ||
    failed "the deleted pipeline's series stay in /metrics ($(curl -s "$U1/metrics" | grep "{pipeline=\"$NAME\"" | head -3))"
check "a pipeline still running keeps its series" [ "$(series "$U1" "batched-$S")" -gt 0 ]
left=$(redis-cli -p "$REDIS_PORT" --scan --pattern "{processor:$NAME*" | sort | tr '\n' ' ')
check "the deleted pipeline's checkpoints are gone, the look-alikes stay ($left)" \
    [ "$left" = "{processor:$NAME-other:1}:v1 {processor:$NAME:77}:v2x {processor:$NAME:77}:v9 " ]

[ $fail = 0 ] && say "ok (hot swap: $v1 results from version 1, $v2 from version 2, $n events counted once)"
exit $fail
