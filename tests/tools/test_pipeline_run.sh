#!/usr/bin/env bash
# test_pipeline_run.sh <build-dir>: the processor's engine offline (pipeline-run) against golden
# scenarios in tests/tools/pipelines/<name>/ (def.json, in.ndjson, expected.ndjson, each checked
# by hand): tumbling with and without allowed lateness (late firing with revision 1, then
# expiry), hopping with its partly-late case, sessions with the exact-gap merge and a
# three-way merge, late events merging two sessions that fired (the merged one with the next
# revision) and revising it again, with `retract` the results of sessions a late event merges or
# grows withdrawn by id (none for a window whose result `having` held back, and one held back
# leaving the result before it standing), emit update with `having`, stateless flatMap/map/filter, a flatMap that keeps
# the rest of data (`as`) before a keyed window, an event the source filter drops still moving
# the watermark (it closes the window; nothing flushes), tenants kept apart, input partitions
# (the watermark the least over them; a partition named before its first event holds it back),
# and an interval join (left outer, a right arriving first, late events), also of the
# elements a flatMap made (each with its own id: pairs and late events never share one), and the
# variance family and percentile's exact extremes over hopping panes (values checked against
# PostgreSQL's variance, var_pop, stddev and stddev_pop), and first and last over merging
# sessions (ties at one time going to the value read first, and last), and early firings of an
# hourly window every 15 minutes (a window waits for a point inside it), and max_keys (a key
# past it in one partition is a dead letter, in another it fits, another tenant's key is
# another key, and expired windows make room) with max_keys_per_tenant (one tenant at its bound,
# another's key still fitting), and deduplication (repeats dropped while a live window holds the
# first, per source, tenant and key, also after the window fired; late once it expired; a session
# that grew keeping its first events' ids; `by` failing on an event: a dead letter), and each
# event's time taken from its data (source.time: milliseconds or RFC 3339 with an offset, a
# fraction of a millisecond a dead letter showing it, an
# event's own `time` set aside, missing, or written over in its late copy), and a rollup of
# per-minute results into hours by their window_start (the minute before the hour counted in
# its hour, not the next). Every
# scenario runs
# twice to show a replay gives the same ids and values. The definitions docs/pipelines.md
# shows are accepted, and its result example is the docs-example scenario's output. Then hostile
# definitions (exit 78 naming the field) and hostile input lines (exit 65 naming the line).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:?usage: test_pipeline_run.sh <build-dir>}/bin/pipeline-run
DIR=$ROOT/tests/tools/pipelines
fail=0
n=0
# A scenario with an upstream.json reads what that pipeline gives for in.ndjson, then a
# watermark "max" (pipelines chained through a topic: a rollup of another's results).
input() {
    if [ -f "$1/upstream.json" ]; then
        "$BIN" "$1/upstream.json" <"$1/in.ndjson" && echo '{"watermark": "max"}'
    else
        cat "$1/in.ndjson"
    fi
}
for s in "$DIR"/*/; do
    name=$(basename "$s")
    got=$(input "$s" | "$BIN" "$s/def.json" 2>&1)
    again=$(input "$s" | "$BIN" "$s/def.json" 2>&1)
    [ -s "$s/expected.ndjson" ] || { echo "pipeline-run: $name has no expected output"; fail=1; }
    if [ "$got" != "$(cat "$s/expected.ndjson")" ]; then
        echo "pipeline-run: $name differs from its golden output:"
        diff <(echo "$got") "$s/expected.ndjson" | head -20
        fail=1
    fi
    [ "$got" = "$again" ] || { echo "pipeline-run: $name: a replay differs"; fail=1; }
    n=$((n + 1))
done
[ $n -ge 10 ] || { echo "pipeline-run: only $n scenarios found"; fail=1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# docs/pipelines.md shows what the engine does: every pipeline definition it shows is accepted as
# it is, its first one is the docs-example scenario's, the result it shows is that scenario's
# first output, and every other output it shows (a retraction) is a scenario's.
docs=$(python3 - "$ROOT/docs/pipelines.md" "$DIR/docs-example" "$TMP" <<'PY'
import glob, json, re, sys
text = open(sys.argv[1]).read()
blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
defs = [b for b in blocks if "specversion" not in b]
results = [b for b in blocks if "specversion" in b]
if len(defs) < 4 or not results:
    print(f"only {len(defs)} definitions and {len(results)} results found")
    sys.exit()
if defs[0] != json.load(open(sys.argv[2] + "/def.json")):
    print("its first definition is not docs-example/def.json")
if results[0] != json.loads(open(sys.argv[2] + "/expected.ndjson").readline()):
    print("its result is not the first line of docs-example/expected.ndjson")
# every other output it shows is one a scenario gives
given = [json.loads(line) for f in glob.glob(sys.argv[2] + "/../*/expected.ndjson")
         for line in open(f)]
for r in results[1:]:
    if r not in given:
        print("its %s %s is no scenario's output" % (r["type"], r["id"]))
for i, d in enumerate(defs):
    json.dump(d, open(f"{sys.argv[3]}/doc-{i}.json", "w"))
PY
)
[ -z "$docs" ] || { echo "pipeline-run: docs/pipelines.md: $docs"; fail=1; }
ndocs=0
for d in "$TMP"/doc-*.json; do
    [ -e "$d" ] || continue
    out=$("$BIN" "$d" </dev/null 2>&1) || { echo "pipeline-run: docs/pipelines.md's $(cat "$d") is refused: $out"; fail=1; }
    ndocs=$((ndocs + 1))
done
[ $ndocs -ge 4 ] || { echo "pipeline-run: only $ndocs definitions of docs/pipelines.md tried"; fail=1; }

# Nested flatMaps multiply, so one input event makes at most 10,000 events in all: here 101 outer
# elements, then 100 inner ones each; the inner lists after the 98th would pass the bound and are
# dropped (counted as expression errors), 9,800 events are counted, and the input event goes to
# the dead letters once, naming the step.
printf '%s\n' '{"name":"fan","steps":[{"flatMap":"data.a"},{"flatMap":"data.b"}],"key":"\"all\"","window":{"type":"tumbling","size":"1s"},"aggregates":{"n":"count()"}}' >"$TMP/fan.json"
python3 -c 'import json; print(json.dumps({"type": "t", "source": "/s", "id": "x", "time": "2026-01-01T00:00:00Z", "data": {"a": [{"b": list(range(100))}] * 101}})); print("{\"watermark\": \"max\"}")' >"$TMP/fan.ndjson"
fan=$("$BIN" "$TMP/fan.json" <"$TMP/fan.ndjson" | python3 -c 'import json, sys
out = [json.loads(l) for l in sys.stdin]
print([o["data"]["n"] for o in out if "data" in o], [(o["dead_letter"]["id"], o["error"]) for o in out if "dead_letter" in o])')
[ "$fan" = "[9800] [('x', 'steps[1].flatMap: more than 10000 events from one input event')]" ] ||
    { echo "pipeline-run: nested flatMaps made $fan, not [9800] and one dead letter"; fail=1; }
# Keys are never cut: two keys of 1,000 bytes that differ in their last byte are two keys (they
# were cut to 511 bytes and merged); a key longer than 1,023 bytes, and a join step's key, make
# their events dead letters naming the field.
printf '%s\n' '{"name":"long","steps":[{"join":{"topic":"t","key":"data.j","as":"row","type":"left"}}],"key":"data.k","window":{"type":"tumbling","size":"1s"},"aggregates":{"n":"count()"}}' >"$TMP/long.json"
printf '%s\n' '{"name":"longjoin","steps":[{"join":{"topic":"t","key":"data.j","as":"row"}}],"key":"data.k","window":{"type":"tumbling","size":"1s"},"aggregates":{"n":"count()"}}' >"$TMP/longjoin.json"
python3 -c 'import json
def ev(i, k, j="r" * 1000):
    print(json.dumps({"type": "t", "source": "/s", "id": i, "time": "2026-01-01T00:00:00Z", "data": {"k": k, "j": j}}))
print(json.dumps({"table": "t", "key": "r" * 1023, "value": {"v": 1}}))
print(json.dumps({"table": "t", "key": "r" * 1000, "value": {"v": 2}}))
ev("a", "A" * 999 + "x"); ev("b", "A" * 999 + "y"); ev("c", "A" * 999 + "y")
ev("d", "B" * 1024)
ev("e", "C" * 1023)
ev("f", "D", "r" * 1024); ev("g", "D", "r" * 1023)
print("{\"watermark\": \"max\"}")' >"$TMP/long.ndjson"
summary='import json, sys
out = [json.loads(l) for l in sys.stdin]
print(sorted((len(o["data"]["key"]), o["data"]["key"][-1], o["data"]["n"]) for o in out if "data" in o),
      [(o["dead_letter"]["id"], o["error"]) for o in out if "dead_letter" in o])'
long=$("$BIN" "$TMP/long.json" <"$TMP/long.ndjson" | python3 -c "$summary")
[ "$long" = "[(1, 'D', 2), (1000, 'x', 1), (1000, 'y', 2), (1023, 'C', 1)] [('d', 'key: is 1024 bytes long, more than the 1023 a key may have')]" ] ||
    { echo "pipeline-run: long keys made $long"; fail=1; }
long=$("$BIN" "$TMP/longjoin.json" <"$TMP/long.ndjson" | python3 -c "$summary")
[ "$long" = "[(1, 'D', 1), (1000, 'x', 1), (1000, 'y', 2), (1023, 'C', 1)] [('d', 'key: is 1024 bytes long, more than the 1023 a key may have'), ('f', 'steps[0].join.key: is 1024 bytes long, more than the 1023 a key may have')]" ] ||
    { echo "pipeline-run: long join keys made $long"; fail=1; }
bad() { # bad <expected message part> <definition>
    printf '%s\n' "$2" >"$TMP/def.json"
    local out rc
    out=$("$BIN" "$TMP/def.json" </dev/null 2>&1)
    rc=$?
    if [ $rc != 78 ] || [[ "$out" != *"$1"* ]]; then
        printf 'pipeline-run: definition %s\n  expected exit 78 and %q\n  got %s: %s\n' "$2" "$1" "$rc" "$out"
        fail=1
    fi
}
W='"window":{"type":"tumbling","size":"1s"}'
J='"left":{"filter":"data.s == 1"},"right":{"filter":"data.s == 2"}'
bad 'either topic or redis_hash, not both' '{"name":"p","steps":[{"join":{"topic":"t","redis_hash":"h","key":"data.k","as":"x"}}]}'
bad 'redis_hash: must name the Redis hash' '{"name":"p","steps":[{"join":{"redis_hash":"","key":"data.k","as":"x"}}]}'
bad 'interval_join.lower: required' '{"name":"p","key":"data.k","interval_join":{'"$J"',"upper":"1s"}}'
bad 'interval_join.upper: must be a duration' '{"name":"p","key":"data.k","interval_join":{'"$J"',"lower":"0s","upper":"soon"}}'
bad 'interval_join.lower: must not exceed' '{"name":"p","key":"data.k","interval_join":{'"$J"',"lower":"2s","upper":"1s"}}'
bad 'interval_join.left: must be' '{"name":"p","key":"data.k","interval_join":{"right":{"filter":"true"},"lower":"0s","upper":"1s"}}'
bad 'interval_join.right.filter: required' '{"name":"p","key":"data.k","interval_join":{"left":{"filter":"true"},"right":{},"lower":"0s","upper":"1s"}}'
bad 'interval_join.left.key: required when' '{"name":"p","interval_join":{'"$J"',"lower":"0s","upper":"1s"}}'
bad 'interval_join.right.as: must differ' '{"name":"p","key":"data.k","interval_join":{"left":{"filter":"true","as":"x"},"right":{"filter":"true","as":"x"},"lower":"0s","upper":"1s"}}'
bad 'interval_join.left.as: must name' '{"name":"p","key":"data.k","interval_join":{"left":{"filter":"true","as":"ids"},"right":{"filter":"true"},"lower":"0s","upper":"1s"}}'
bad 'interval_join.type: must be' '{"name":"p","key":"data.k","interval_join":{'"$J"',"lower":"0s","upper":"1s","type":"full"}}'
bad 'interval_join.within: unknown member' '{"name":"p","key":"data.k","interval_join":{'"$J"',"lower":"0s","upper":"1s","within":1}}'
bad 'interval_join: not with a window' '{"name":"p","key":"data.k","window":{"type":"tumbling","size":"1s"},"interval_join":{'"$J"',"lower":"0s","upper":"1s"}}'
bad 'aggregates: not with an interval join' '{"name":"p","key":"data.k","aggregates":{"n":"count()"},"interval_join":{'"$J"',"lower":"0s","upper":"1s"}}'
bad 'max_keys: must be an integer from 0 (no bound) to 1000000000' '{"name":"p",'"$W"',"aggregates":{"n":"count()"},"max_keys":-5}'
bad 'max_keys: must be an integer' '{"name":"p",'"$W"',"aggregates":{"n":"count()"},"max_keys":"many"}'
bad 'max_keys: only with a window or an interval join' '{"name":"p","max_keys":10}'
bad 'interval_join.max_events_per_key: must be an integer from 0 (no bound) to 1000000000' '{"name":"p","key":"data.k","interval_join":{'"$J"',"lower":"0s","upper":"1s","max_events_per_key":-1}}'
bad 'interval_join.left.filter: ' '{"name":"p","key":"data.k","interval_join":{"left":{"filter":"(("},"right":{"filter":"true"},"lower":"0s","upper":"1s"}}'
A='"aggregates":{"n":"count()"}'
bad 'early: only with "emit": "final"' '{"name":"p","key":"data.k",'"$W"',"emit":"update","early":"1s",'"$A"'}'
bad 'early: must be shorter than window.size' '{"name":"p","key":"data.k",'"$W"',"early":"1s",'"$A"'}'
bad 'early: only with a window' '{"name":"p","early":"1s"}'
bad 'early: only with a window' '{"name":"p","key":"data.k","interval_join":{'"$J"',"lower":"0s","upper":"1s"},"early":"1s"}'
bad 'early: must be' '{"name":"p","key":"data.k",'"$W"',"early":"0s",'"$A"'}'
bad 'early: must be' '{"name":"p","key":"data.k",'"$W"',"early":5,'"$A"'}'
bad 'name: must be' '{}'
bad 'name: must be' '{"name":"has space"}'
bad 'a pipeline is a JSON object' '[1]'
bad 'unexpected token' '{"name":'
bad 'source: must be an object' '{"name":"p","source":7}'
bad 'source.begin: unknown member' '{"name":"p","source":{"begin":"earliest"}}'
for s in '"newest"' '"LATEST"' '5' '""' '"2026-12-01"' '"2026-13-01T00:00:00Z"' '"2026-12-01T00:00:00"' '"earliest "' 'null' '["earliest"]'; do
    bad 'source.start: must be "earliest" (the beginning of the topics), "latest" (the records stamped from the moment the pipeline is put on) or an RFC 3339 time' '{"name":"p","source":{"start":'"$s"'}}'
done
for s in '"earliest"' '"latest"' '"2026-12-01T00:00:00Z"' '"2026-12-01T01:00:00.5+01:00"' '"1970-01-01T00:00:00Z"'; do
    printf '{"name":"p","source":{"start":%s}}\n' "$s" >"$TMP/def.json"
    "$BIN" "$TMP/def.json" </dev/null >/dev/null 2>&1 || { echo "pipeline-run: source.start $s refused"; fail=1; }
done
bad 'unknwn: unknown member' '{"name":"p","unknwn":1}'
bad 'batch.max: must be an integer from 1' '{"name":"p","batch":{"max":0}}'
bad 'batch.max: must be an integer from 1' '{"name":"p","batch":{"max":100001}}'
bad 'batch.timeout: must be a duration' '{"name":"p","batch":{"max":5,"timeout":"soon"}}'
bad 'batch.size: unknown member' '{"name":"p","batch":{"max":5,"size":1}}'
bad 'batch: must be an object' '{"name":"p","batch":7}'
bad 'steps[0].join.topic: must be' '{"name":"p","steps":[{"join":{"key":"data.k","as":"r"}}]}'
bad 'steps[0].join.as: must name' '{"name":"p","steps":[{"join":{"topic":"t","key":"data.k"}}]}'
bad 'steps[0].join.key: required' '{"name":"p","steps":[{"join":{"topic":"t","as":"r"}}]}'
bad 'steps[0].join.type: must be' '{"name":"p","steps":[{"join":{"topic":"t","key":"k","as":"r","type":"outer"}}]}'
bad 'steps[0].join.with: unknown member' '{"name":"p","steps":[{"join":{"topic":"t","key":"k","as":"r","with":1}}]}'
bad 'steps[0].join.key: ' '{"name":"p","steps":[{"join":{"topic":"t","key":"data.(","as":"r"}}]}'
bad 'steps[0].flatMap.as: must name' '{"name":"p","steps":[{"flatMap":{"expr":"data.items"}}]}'
bad 'steps[0].flatMap.as: must name' '{"name":"p","steps":[{"flatMap":{"expr":"data.items","as":"a b"}}]}'
bad 'steps[0].flatMap.expr: required' '{"name":"p","steps":[{"flatMap":{"as":"item"}}]}'
bad 'steps[0].flatMap.expr: ' '{"name":"p","steps":[{"flatMap":{"expr":"data.(","as":"item"}}]}'
bad 'steps[0].flatMap.index: unknown member' '{"name":"p","steps":[{"flatMap":{"expr":"data.items","as":"item","index":"i"}}]}'
bad 'steps[0].flatMap: must be an expression (a string) or {"expr"' '{"name":"p","steps":[{"flatMap":7}]}'
L=$(printf 'L%.0s' $(seq 1 600)) # a name far longer than an error message: cut, the reason kept
bad 'LLLL...: unknown member' '{"name":"p","'"$L"'":1}'
bad 'LLLL...: not a usable result field name' '{"name":"p",'"$W"',"aggregates":{"'"$L"'":"count()"}}'
bad "unknown step 'LLLLLLLL" '{"name":"p","steps":[{"'"$L"'":"x"}]}'
bad "LLLL...' (map, flatMap" '{"name":"p","steps":[{"'"$L"'":"x"}]}'
bad "unknown function 'LLLLLLLL" '{"name":"p",'"$W"',"aggregates":{"n":"'"$L"'(x)"}}'
bad "LLLL...'" '{"name":"p",'"$W"',"aggregates":{"n":"'"$L"'(x)"}}'
bad 'steps: at most 32' '{"name":"p","steps":['"$(printf '{"filter":"true"},%.0s' $(seq 1 32))"'{"filter":"true"}]}'
bad 'window.type: must be' '{"name":"p","window":{"type":"sliding","size":"1s"},'"$A"'}'
bad 'window.size: required' '{"name":"p","window":{"type":"tumbling"},'"$A"'}'
bad 'window.size: must be a duration' '{"name":"p","window":{"type":"tumbling","size":"soon"},'"$A"'}'
bad 'window.size: must be between' '{"name":"p","window":{"type":"tumbling","size":"0ms"},'"$A"'}'
bad 'window.slide: must not exceed' '{"name":"p","window":{"type":"hopping","size":"1s","slide":"2s"},'"$A"'}'
bad 'window.slide: required' '{"name":"p","window":{"type":"hopping","size":"1s"},'"$A"'}'
bad 'window.gap: required' '{"name":"p","window":{"type":"session"},'"$A"'}'
bad 'window.offset: must be shorter than window.size' '{"name":"p","window":{"type":"tumbling","size":"1d","offset":"-1d"},'"$A"'}'
bad 'window.offset: must be shorter than window.slide' '{"name":"p","window":{"type":"hopping","size":"1h","slide":"1m","offset":"2m"},'"$A"'}'
bad 'window.offset: not for session windows' '{"name":"p","window":{"type":"session","gap":"1m","offset":"1s"},'"$A"'}'
bad 'window.retract: only for session windows' '{"name":"p","window":{"type":"tumbling","size":"1m","retract":true},'"$A"'}'
bad 'window.retract: only for session windows' '{"name":"p","window":{"type":"hopping","size":"1m","slide":"1s","retract":false},'"$A"'}'
bad 'window.retract: must be true or false' '{"name":"p","window":{"type":"session","gap":"1m","retract":"yes"},'"$A"'}'
bad 'window.retract: must be true or false' '{"name":"p","window":{"type":"session","gap":"1m","retract":null},'"$A"'}'
bad "window.offset: must be a duration up to 366d, negative with a leading '-'" '{"name":"p","window":{"type":"tumbling","size":"1d","offset":-8},'"$A"'}'
bad 'window.offset: must be a duration' '{"name":"p","window":{"type":"tumbling","size":"1d","offset":"--8h"},'"$A"'}'
bad 'window.slide: size / gcd' '{"name":"p","window":{"type":"hopping","size":"1d","slide":"1001ms"},'"$A"'}'
bad 'aggregates: a windowed pipeline needs' '{"name":"p",'"$W"'}'
bad 'aggregates.x: unknown function' '{"name":"p",'"$W"',"aggregates":{"x":"median(data.v)"}}'
bad 'aggregates.x: count_if(x) needs the expression x' '{"name":"p",'"$W"',"aggregates":{"x":"count_if()"}}'
bad 'aggregates.x: count() takes no argument' '{"name":"p",'"$W"',"aggregates":{"x":"count(data)"}}'
bad 'aggregates.x: percentile(x, q) needs' '{"name":"p",'"$W"',"aggregates":{"x":"percentile(data.v, 2)"}}'
bad 'aggregates.x: must be count()' '{"name":"p",'"$W"',"aggregates":{"x":"sum data.v"}}'
bad 'aggregates.x: stddev(x) needs the expression x' '{"name":"p",'"$W"',"aggregates":{"x":"stddev( )"}}'
bad 'aggregates.x: percentile(x, q) needs the expression x' '{"name":"p",'"$W"',"aggregates":{"x":"percentile(, 0.5)"}}'
bad 'aggregates.x: topk(x, k) needs a whole number k from 1 to 1000' '{"name":"p",'"$W"',"aggregates":{"x":"topk(data.v, 0)"}}'
bad 'aggregates.x: topk(x, k) needs a whole number k from 1 to 1000' '{"name":"p",'"$W"',"aggregates":{"x":"topk(data.v, 2.5)"}}'
bad 'aggregates.x: topk(x, k) needs a whole number k from 1 to 1000' '{"name":"p",'"$W"',"aggregates":{"x":"topk(data.v, 1001)"}}'
bad 'aggregates.x: topk(x, k) needs a whole number k from 1 to 1000' '{"name":"p",'"$W"',"aggregates":{"x":"topk(data.v)"}}'
bad 'aggregates.x: topkdistinct(x, k) needs a whole number k' '{"name":"p",'"$W"',"aggregates":{"x":"topkdistinct(data.v, k)"}}'
bad 'aggregates.x: topk_distinct(x, k) needs the expression x' '{"name":"p",'"$W"',"aggregates":{"x":"topk_distinct( , 3)"}}'
bad 'aggregates.x: collect_list(x, n) takes a whole number n from 1 to 1000' '{"name":"p",'"$W"',"aggregates":{"x":"collect_list(data.v, 0)"}}'
bad 'aggregates.x: collect_set(x, n) takes a whole number n from 1 to 1000' '{"name":"p",'"$W"',"aggregates":{"x":"collect_set(data.v, 1001)"}}'
bad 'aggregates.x: collect_set(x) needs the expression x' '{"name":"p",'"$W"',"aggregates":{"x":"collect_set()"}}'
bad 'aggregates.x: collect_list(x) needs the expression x' '{"name":"p",'"$W"',"aggregates":{"x":"collect_list( , 3)"}}'
bad 'aggregates.x: percentile(x, q) needs a quantile' '{"name":"p",'"$W"',"aggregates":{"x":"percentile(data.v, )"}}'
bad 'aggregates.x: 1:' '{"name":"p",'"$W"',"aggregates":{"x":"collect_list(data.v, 2, 3)"}}'
bad 'aggregates.key: not a usable' '{"name":"p",'"$W"',"aggregates":{"key":"count()"}}'
bad 'aggregates.x: 1:' '{"name":"p",'"$W"',"aggregates":{"x":"sum(data.)"}}'
bad 'steps[0]: unknown step' '{"name":"p","steps":[{"reduce":"x"}]}'
bad 'steps[0].map.a: 1:' '{"name":"p","steps":[{"map":{"a":"(("}}]}'
bad 'steps[1].filter: must be an expression' '{"name":"p","steps":[{"filter":"true"},{"filter":1}]}'
bad 'source.filter: 1:' '{"name":"p","source":{"filter":"type =="}}'
bad 'source.topics: must be an array' '{"name":"p","source":{"topics":"events"}}'
bad 'source.start: must be "earliest"' '{"name":"p","source":{"start":"now"}}'
bad 'source.start: must be "earliest"' '{"name":"p","source":{"start":0}}'
bad 'source.start: must be "earliest"' '{"name":"p","source":{"start":null}}'
bad 'source.start: must be "earliest"' '{"name":"p","source":{"start":"EARLIEST"}}'
bad 'source.time: only with a window or an interval_join' '{"name":"p","source":{"time":"data.at"}}'
bad 'source.time: 1:10: unexpected end' '{"name":"p","source":{"time":"data.at +"},"key":"data.k",'"$W"',"aggregates":{"n":"count()"}}'
bad 'source.time: must be' '{"name":"p","source":{"time":5},"key":"data.k",'"$W"',"aggregates":{"n":"count()"}}'
bad 'having: only with a window' '{"name":"p","having":"n > 1"}'
# An aggregate named as a field of every result would be overwritten (or written twice); `open`
# is the windows query's. A name `having` reads that is no field of the result held back every
# window without a word.
bad 'aggregates.version: not a usable result field name' '{"name":"p",'"$W"',"aggregates":{"version":"count()"}}'
bad 'aggregates.open: not a usable result field name' '{"name":"p",'"$W"',"aggregates":{"open":"first(data.v)"}}'
bad "having: 'm' is not a field of the result" '{"name":"p",'"$W"',"aggregates":{"n":"count()"},"having":"m > 1"}'
bad "having: 'open' is not a field of the result" '{"name":"p",'"$W"',"aggregates":{"n":"count()"},"having":"open"}'
bad "having: 'data' is not a field of the result" '{"name":"p",'"$W"',"aggregates":{"n":"count()"},"having":"data.n > 1"}'
bad "having: 'p' is not a field of the result" '{"name":"p",'"$W"',"aggregates":{"p-99":"count()"},"having":"p-99 > 1"}'
printf '%s\n' '{"name":"p","key":"data.k",'"$W"',"aggregates":{"n":"count()","hi":"max(data.v)"},"having":"n > 1 && hi >= 2 && revision == 0 && version == 1 && key != \"\" && pipeline == \"p\" && window_start < window_end"}' >"$TMP/having.json"
printf '%s\n' '{"type":"t","source":"/s","id":"1","time":"2026-01-01T00:00:00.100Z","data":{"k":"a","v":1}}' \
    '{"type":"t","source":"/s","id":"2","time":"2026-01-01T00:00:00.200Z","data":{"k":"a","v":2}}' \
    '{"type":"t","source":"/s","id":"3","time":"2026-01-01T00:00:01.200Z","data":{"k":"a","v":2}}' '{"watermark":"max"}' >"$TMP/having.ndjson"
having=$("$BIN" "$TMP/having.json" <"$TMP/having.ndjson" | python3 -c 'import json, sys
print([(r["data"]["window_start"], r["data"]["n"]) for r in map(json.loads, sys.stdin)])')
[ "$having" = "[('2026-01-01T00:00:00.000Z', 2)]" ] ||
    { echo "pipeline-run: having over every field of the result made $having"; fail=1; }
# Expressions reading a field of data that the map before them never makes: warned about on
# stderr naming the field, and the run goes on (here every event is a dead letter of the
# flatMap, whose data.items the map dropped, as in issue 10's example)
printf '%s\n' '{"name":"p","steps":[{"map":{"k":"data.k","v":"data.v"}},{"flatMap":{"expr":"data.items","as":"item"}},{"filter":"has(data.w) || data.v > 0"}],"key":"data.k",'"$W"',"aggregates":{"n":"count()","s":"sum(data.item)","t":"sum(data.total)"}}' >"$TMP/shape.json"
"$BIN" "$TMP/shape.json" <"$TMP/having.ndjson" >"$TMP/shape.out" 2>"$TMP/shape.err"
rc=$?
expected="$TMP/shape.json: warning: steps[1].flatMap: reads data.items, which no event holds there: after the map of steps[0], data holds only k, v
$TMP/shape.json: warning: aggregates.t: reads data.total, which no event holds there: after the map of steps[0], data holds only k, v, item"
{ [ $rc = 0 ] && [ "$(cat "$TMP/shape.err")" = "$expected" ] && [ "$(grep -c dead_letter "$TMP/shape.out")" = 3 ]; } ||
    { echo "pipeline-run: a definition reading fields no step makes gave $rc: $(cat "$TMP/shape.err") / $(cat "$TMP/shape.out")"; fail=1; }
bad 'emit: must be' '{"name":"p",'"$W"','"$A"',"emit":"sometimes"}'
bad 'out_of_orderness: must be a duration' '{"name":"p",'"$W"','"$A"',"out_of_orderness":5}'
bad 'sink.topic: must be a topic name' '{"name":"p","sink":{"topic":""}}'
bad 'sink.topic: must be a topic name' '{"name":"p","sink":{"topic":"a b"}}'
bad "sink.topic: 'events' is also a source topic" '{"name":"p","sink":{"topic":"events"}}'
bad "sink.topic: 'in' is also a source topic" '{"name":"p","source":{"topics":["x","in"]},"sink":{"topic":"in"}}'
bad 'sink.topic: a topic named *.repartition' '{"name":"p","sink":{"topic":"q.repartition"}}'
bad 'source.topics[1]: must be a topic name' '{"name":"p","source":{"topics":["x","a/b"]}}'
bad "source.topics[1]: 'x' is listed twice" '{"name":"p","source":{"topics":["x","x"]}}'
bad 'source.topics[0]: a topic named *.repartition' '{"name":"p","source":{"topics":["q.repartition"]}}'
bad 'steps[0].join.topic: must be' '{"name":"p","steps":[{"join":{"topic":"t/u","key":"k","as":"r"}}]}'
bad 'not a repartition topic' '{"name":"p","steps":[{"join":{"topic":"t.repartition","key":"k","as":"r"}}]}'
bad 'repartition: must be true or false' '{"name":"p",'"$W"','"$A"',"repartition":"yes"}'

# Hostile input: each bad line is named, the good ones still counted.
printf '%s\n' '{"name":"p","window":{"type":"tumbling","size":"1s"},"aggregates":{"n":"count()"}}' >"$TMP/def.json"
out=$(printf '%s\n' 'not json' '[1,2]' '{"type":"t","source":"/s","id":"1"}' \
    '{"watermark":"yesterday"}' '{"type":"t","source":"/s","id":"2","time":"2026-01-01T00:00:00Z"}' \
    '{"source":"/s","id":"3","time":"2026-01-01T00:00:00Z"}' '{"table":"t","key":"k"}' \
    '{"table":"t","key":7,"value":1}' '{"partition":-1}' '{"partition":1024}' '{"partition":"1"}' \
    '{"partition":1.5}' '{"partition":9007199254740993}' \
    '{"late":{"type":"t","source":"/s","id":"4","time":"2026-01-01T00:00:00Z"}}' \
    '{"dead_letter":{"type":"t","source":"/s","id":"5"},"error":"key: failed"}' '{"watermark":"max"}' |
    "$BIN" "$TMP/def.json" 2>"$TMP/err")
rc=$?
[ $rc = 65 ] || { echo "pipeline-run: hostile input should exit 65, not $rc"; fail=1; }
for l in 'line 1: not JSON' 'line 2: not a JSON object' 'line 3: an event needs a `time` (or the pipeline a source.time)' \
    'line 4: watermark: must be' 'line 6: not a CloudEvent' 'line 7: a table entry is' \
    'line 8: a table entry is' 'line 9: partition: must be' 'line 10: partition: must be' \
    'line 11: partition: must be' 'line 12: partition: must be' 'line 13: partition: must be' \
    'line 14: a late event as pipeline-run writes it' 'line 15: a dead letter as pipeline-run writes it'; do
    grep -qF "$l" "$TMP/err" || { echo "pipeline-run: stderr lacks '$l': $(cat "$TMP/err")"; fail=1; }
done
[[ "$out" == *'"n":1}'* ]] || { echo "pipeline-run: the one good event should be counted: $out"; fail=1; }
"$BIN" </dev/null >/dev/null 2>&1
[ $? = 2 ] || { echo "pipeline-run: usage should exit 2"; fail=1; }
[ $fail = 0 ] && echo "pipeline-run: ok ($n scenarios)"
exit $fail
