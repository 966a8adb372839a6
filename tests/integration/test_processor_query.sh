#!/usr/bin/env bash
# test_processor_query.sh <build-dir>: GET /pipelines/{name}/windows?key= (a key's windows as the
# checkpoints in Redis hold them), against the harness's PostgreSQL, Redis and development broker.
#   - two instances in one group: each answers for every key, the same answer, whichever holds
#     the key's partition (the state is read from Redis);
#   - a tumbling pipeline re-keyed through its repartition topic, with allowed lateness: every
#     window's count and sum equal those of the events produced (recomputed here), the windows the
#     watermark passed are closed (`open` false) and the others open; a late event revises a
#     closed window (revision 1); a window whose lateness ran out is gone;
#   - a hopping pipeline reading input keyed already ("repartition": false): every partition's
#     state is read; each hopping window equals the events in it;
#   - a session pipeline with `having`: windows the `having` holds back are left out;
#   - tenants: a token reads only its own tenant's windows (another tenant's events under the
#     same key never show), and asking for another tenant is 403;
#   - without key, every key's windows page by page (?limit=, ?cursor=): the pages together hold
#     each window once, those of the token's tenant only, through the repartition topic's
#     partitions or every input partition, and no page is empty; ?from= and ?to= keep the windows
#     that start between; ?prefix= the keys that start with it (glob characters as themselves);
#     ?key_from= and ?key_to= the keys between them (both included, byte order), with and without
#     a prefix, page by page;
#   - 401 without a token, 403 without the scope, 400 with a key, prefix or key range end too
#     long or not UTF-8, any of them with a key, a parameter given twice (?key=a&key=b is not
#     read as ?key=a), a key range backwards, a limit,
#     a cursor or a time that is not one (naming it), 400 for a stateless pipeline and an interval
#     join (naming the field), 404 for no such pipeline, and `[]` for keys with no state (among
#     them hostile ones).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_query.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${KAFKA_BROKERS:?}" "${REDIS_PORT:?}"
. "$ROOT/tests/integration/lib.sh"
it_init "processor query" proc-query
jqe() { jq -e "$@" >/dev/null; }

export JWT_HS256_SECRET=query-test-secret-0123456789abcdef0123456789
ADMIN=$(DEVTOKEN_SCOPE='processor:admin' DEVTOKEN_TENANT=dev "$BIN/devtoken")
ACME=$(DEVTOKEN_SCOPE='processor:admin' DEVTOKEN_TENANT=acme "$BIN/devtoken")
PLAIN=$(DEVTOKEN_SCOPE='events:write' DEVTOKEN_TENANT=dev "$BIN/devtoken")
S=$$
IN=q-in-$S KEYED=q-keyed-$S MANY=q-many-$S

start_processor() { it_start_processor "$1" "$2" q; } # start_processor <log> <port>
P1=$(stack_free_port)
P2=$(stack_free_port)
start_processor p1.log "$P1"
start_processor p2.log "$P2"
U1=http://127.0.0.1:$P1 U2=http://127.0.0.1:$P2

req() { # req <token> <url>: prints "<status> <body>"
    curl -s -o "$work/body" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$2"
    printf ' '
    cat "$work/body"
}
put() { # put <name> <definition>
    curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' -d "$2" "$U1/pipelines/$1"
}
# idle_timeout 1 s: an input partition without events stops holding the watermark back
common='"out_of_orderness": "0s", "idle_timeout": "1s"'
check "a tumbling pipeline is created" [ "$(put tumble-$S '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "10s"}, '"$common"', "allowed_lateness": "20s", "aggregates": {"n": "count()", "s": "sum(data.v)"}, "sink": {"topic": "q-out-'$S'"}}')" = 201 ]
check "a hopping pipeline on keyed input is created" [ "$(put hop-$S '{"source": {"topics": ["'$KEYED'"]}, "repartition": false, "key": "data.k", "window": {"type": "hopping", "size": "20s", "slide": "10s"}, '"$common"', "aggregates": {"n": "count()", "s": "sum(data.v)"}, "sink": {"topic": "q-out-'$S'"}}')" = 201 ]
check "a session pipeline with having is created" [ "$(put sess-$S '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "window": {"type": "session", "gap": "2s"}, '"$common"', "emit": "update", "aggregates": {"n": "count()"}, "having": "n >= 3", "sink": {"topic": "q-out-'$S'"}}')" = 201 ]
check "a pipeline for many keys is created" [ "$(put many-$S '{"source": {"topics": ["'$MANY'"]}, "key": "data.k", "window": {"type": "tumbling", "size": "1h"}, '"$common"', "aggregates": {"n": "count()"}, "sink": {"topic": "q-out-'$S'"}}')" = 201 ]
check "a stateless pipeline is created" [ "$(put plain-$S '{"source": {"topics": ["'$IN'"]}, "steps": [{"map": {"k": "data.k"}}], "sink": {"topic": "q-plain-'$S'"}}')" = 201 ]
check "an interval join is created" [ "$(put pairs-$S '{"source": {"topics": ["'$IN'"]}, "key": "data.k", "interval_join": {"left": {"filter": "data.v == 0"}, "right": {"filter": "data.v == 1"}, "lower": "0s", "upper": "1s"}, "sink": {"topic": "q-pairs-'$S'"}}')" = 201 ]
for p in tumble hop sess plain pairs many; do
    for _ in $(seq 1 100); do
        req "$ADMIN" "$U1/pipelines/$p-$S" | grep -q '"state":"running"' &&
            req "$ADMIN" "$U2/pipelines/$p-$S" | grep -q '"state":"running"' && break
        sleep 0.1
    done
done

# ---- refusals ----
r=$(req "" "$U1/pipelines/tumble-$S/windows?key=k0")
check "no token is 401 ($r)" [ "${r%% *}" = 401 ]
r=$(req "$PLAIN" "$U1/pipelines/tumble-$S/windows?key=k0")
check "a token without processor:admin is 403 ($r)" [ "${r%% *}" = 403 ]
r=$(req "$ADMIN" "$U1/pipelines/nothing-$S/windows?key=k0")
check "no such pipeline is 404 ($r)" [ "${r%% *}" = 404 ]
r=$(req "$ADMIN" "$U1/pipelines/plain-$S/windows?key=k0")
{ [ "${r%% *}" = 400 ] && [[ "$r" == *'window:'* ]]; } || failed "a stateless pipeline is 400 naming window ($r)"
r=$(req "$ADMIN" "$U1/pipelines/pairs-$S/windows?key=k0")
{ [ "${r%% *}" = 400 ] && [[ "$r" == *'interval_join:'* ]]; } || failed "an interval join is 400 naming interval_join ($r)"
r=$(req "$ACME" "$U1/pipelines/tumble-$S/windows?key=k0&tenant=dev")
check "another tenant's windows are 403 ($r)" [ "${r%% *}" = 403 ]
r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?key=$(printf 'x%.0s' $(seq 1 1100))")
check "a key of 1,100 bytes is 400 ($r)" [ "${r%% *}" = 400 ]
r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?key=%FF%FE")
{ [ "${r%% *}" = 400 ] && [[ "$r" == *'"message":"key:'* ]]; } || failed "a key that is not UTF-8 is 400 naming key ($r)"
for k in '%E2%82%AC' '%1F%1F' '%22%5C' '%F0%9F%98%80'; do # €, the tenant separator, "\, an emoji
    r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?key=$k")
    { [ "${r%% *}" = 200 ] && [[ "$r" == *'"windows":[]'* ]]; } || failed "key $k answers no windows ($r)"
done
r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?key=nobody")
{ [ "${r%% *}" = 200 ] && [[ "$r" == *'"windows":[]'* ]]; } || failed "a key with no state answers no windows ($r)"

# ---- events ----
T=$(( ($(date +%s%3N) - 3600000) / 10000 * 10000 )) # an hour ago, on a window boundary
produce() { # produce <first id> <count> <time ms> <step ms> [tenant]: keys k0..k4, v = id % 7
    awk -v a="$1" -v n="$2" -v t0="$3" -v step="$4" -v tenant="${5:-dev}" 'BEGIN {
        for (i = a; i < a + n; i++) {
            t = t0 + (i - a) * step; s = int(t / 1000); ms = t % 1000
            printf "k%d\t{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"/q\",\"id\":\"e%d\",\"tenant\":\"%s\",\"time\":\"%s.%03dZ\",\"data\":{\"k\":\"k%d\",\"v\":%d}}\n",
                i % 5, i, tenant, strftime("%Y-%m-%dT%H:%M:%S", s, 1), ms, i % 5, i % 7
        }
    }' | tee -a "$work/produced.tsv" | tee >(kcat -P -b "$KAFKA_BROKERS" -t "$KEYED" -K $'\t' 2>>"$work/kcat.log") |
        kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
}
produce 0 60 "$T" 250                 # T .. T+14.75 s: [T, T+10) closes, [T+10, T+20) stays open
produce 1000 12 $((T + 3000)) 500 acme # the same keys under tenant acme

# expected <pipeline> <tenant> <key>: the windows of the events produced, as the answer lists them
expected() {
    python3 - "$work/produced.tsv" "$T" "$@" <<'PY'
import calendar, json, sys
from datetime import datetime
path, T, kind, tenant, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
evs = []
for line in open(path):
    e = json.loads(line.split("\t", 1)[1])
    if e["tenant"] == tenant and e["data"]["k"] == key:
        d = datetime.strptime(e["time"].replace("Z", "").split(".")[0], "%Y-%m-%dT%H:%M:%S")
        ms = int(e["time"].rstrip("Z").split(".")[1]) if "." in e["time"] else 0
        t = calendar.timegm(d.timetuple()) * 1000 + ms
        evs.append((t, e["data"]["v"]))
out = {}
if kind in ("tumble", "hop"):
    size, slide = (10000, 10000) if kind == "tumble" else (20000, 10000)
    for t, v in evs:
        s = t // slide * slide
        while s > t - size:
            n, tot = out.get(s, (0, 0))
            out[s] = (n + 1, tot + v)
            s -= slide
    if kind == "hop":  # no lateness: the windows the watermark (T+13.75 s .. T+15 s) passed are gone
        out = {s: v for s, v in out.items() if s + size > T + 15000}
    print(json.dumps(sorted([s, n, tot] for s, (n, tot) in out.items()), separators=(",", ":")))
PY
}
# got <url> <token> <pipeline> <key>: the answer's windows as [[start ms, n, s], ...]
got() {
    curl -s -H "Authorization: Bearer $2" "$1/pipelines/$3-$S/windows?key=$4" >"$work/answer"
    jq -c '[.windows[] | [(.window_start | sub("\\.[0-9]+Z$"; "Z") | fromdate * 1000), .n, .s]] | sort' "$work/answer" 2>/dev/null
}
wait_for() { # wait_for <url> <token> <pipeline> <key> <expected>
    for _ in $(seq 1 100); do
        [ "$(got "$@" | cut -c1-4000)" = "$5" ] && return 0
        sleep 0.1
    done
    return 1
}
want=$(expected tumble dev k0)
{ [ "$want" != "[]" ] && [ -n "$want" ]; } || failed "the windows of k0 are known here ($want)"
# counts as produced, and the watermark past the first window (its reports may come later); the
# first wait is long: the group rebalances as the pipelines' topics are subscribed
for _ in $(seq 1 400); do
    [ "$(got "$U1" "$ADMIN" tumble k0)" = "$want" ] &&
        [ "$(jq -c '[.windows[] | .open]' "$work/answer")" = '[false,true]' ] && break
    sleep 0.1
done
check "tumbling: k0's windows hold the events produced (want $want, got $(got "$U1" "$ADMIN" tumble k0))" [ "$(got "$U1" "$ADMIN" tumble k0)" = "$want" ]
cp "$work/answer" "$work/answer1"
got "$U2" "$ADMIN" tumble k0 >/dev/null
# (the windows: the watermark may move on with a checkpoint between the two reads)
check "the other instance gives the same windows" \
    [ "$(jq -c .windows "$work/answer")" = "$(jq -c .windows "$work/answer1")" ]
for k in k1 k2 k3 k4; do
    want=$(expected tumble dev $k)
    wait_for "$U2" "$ADMIN" tumble $k "$want"
    check "tumbling: $k's windows hold the events produced (want $want)" [ "$(got "$U2" "$ADMIN" tumble $k)" = "$want" ]
done
# the watermark (the answer's) lies in [T+10 s, T+15 s): the first window closed, the second open
wm=$(jq -r '.watermark | sub("\\.[0-9]+Z$"; "Z") | fromdate' "$work/answer1" 2>/dev/null)
{ [ -n "$wm" ] && [ "$((wm * 1000))" -ge $((T + 9000)) ] && [ "$((wm * 1000))" -lt $((T + 15000)) ]; } || failed "the answer gives the watermark of the state ($wm)"
opens=$(jq -c '[.windows[] | .open]' "$work/answer1")
check "the window the watermark passed is closed, the next open ($opens)" [ "$opens" = '[false,true]' ]
check "the answer names pipeline, tenant and key" jqe '.pipeline == "tumble-'$S'" and .tenant == "dev" and .key == "k0" and (.windows[0] | .version == 1 and .revision == 0 and .key == "k0")' "$work/answer1"

# ---- every key's windows, page by page (no key) ----
# scan <url> <token> <pipeline> <query>: every page's windows as [[key, start ms, n, s], ...]
# (sorted), then the number of pages and of windows read, on the second line
scan() {
    python3 - "$1/pipelines/$3-$S/windows" "$2" "$4" <<'PY'
import calendar, json, sys, urllib.parse, urllib.request
from datetime import datetime
url, token, query = sys.argv[1], sys.argv[2], sys.argv[3]
rows, pages, empty, cursor = [], 0, 0, None
while True:
    q = query + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
    req = urllib.request.Request(url + "?" + q, headers={"Authorization": "Bearer " + token})
    page = json.load(urllib.request.urlopen(req, timeout=10))
    pages += 1
    empty += pages > 1 and not page["windows"]  # (a first page is empty when nothing matches)
    for w in page["windows"]:
        d = datetime.strptime(w["window_start"].split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
        rows.append([w["key"], calendar.timegm(d.timetuple()) * 1000, w["n"], w.get("s")])
    cursor = page.get("next")
    if not cursor or pages > 1000:
        break
print(json.dumps(sorted(rows), separators=(",", ":")))
print(pages, len(rows), empty)
PY
}
all_expected() { # all_expected <pipeline> <tenant> [from ms] [to ms]: [[key, start, n, s], ...]
    for k in k0 k1 k2 k3 k4; do expected "$1" "$2" $k | jq -c --arg k $k '.[] | [$k] + .'; done |
        jq -sc --argjson from "${3:-0}" --argjson to "${4:-1e15}" 'map(select(.[1] >= $from and .[1] < $to)) | sort'
}
want=$(all_expected tumble dev)
scan "$U2" "$ADMIN" tumble "limit=2" >"$work/scan"
{
    [ "$(head -1 "$work/scan")" = "$want" ] && [ "$(echo "$want" | jq length)" -ge 5 ]; } || failed "a scan of every key, 2 windows a page, holds each key's windows once (want $want, got $(head -1 "$work/scan"))"
read -r pages rows empty < <(sed -n 2p "$work/scan")
{ [ "$pages" -ge 3 ] && [ "$rows" = "$(echo "$want" | jq length)" ] && [ "$empty" = 0 ]; } || failed "... in several pages, none empty ($pages pages, $rows windows, $empty empty)"
scan "$U1" "$ADMIN" tumble "limit=$(echo "$want" | jq length)" >"$work/scan0"
{ [ "$(head -1 "$work/scan0")" = "$want" ] && [ "$(sed -n 2p "$work/scan0")" = "1 $(echo "$want" | jq length) 0" ]; } || failed "a limit of exactly every window: one page, no next ($(sed -n 2p "$work/scan0"))"
scan "$U1" "$ADMIN" tumble "limit=5000" >"$work/scan1"
{ [ "$(head -1 "$work/scan1")" = "$want" ] && [ "$(sed -n 2p "$work/scan1" | cut -d' ' -f1)" = 1 ]; } || failed "one page of up to 5,000 windows holds the same"
from=$(date -u -d "@$((T / 1000))" +%Y-%m-%dT%H:%M:%SZ) to=$(date -u -d "@$((T / 1000 + 10))" +%Y-%m-%dT%H:%M:%SZ)
want=$(all_expected tumble dev "$T" $((T + 10000)))
scan "$U1" "$ADMIN" tumble "from=$from&to=$to&limit=3" >"$work/scan2"
{
    [ "$(head -1 "$work/scan2")" = "$want" ] && [ "$(echo "$want" | jq length)" = 5 ] &&
        [ "$(sed -n 2p "$work/scan2")" = "2 5 0" ]; } || failed "a scan from and to holds the windows that start between (want $want, got $(head -1 "$work/scan2"))"
r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?key=k0&from=$to")
{ [ "${r%% *}" = 200 ] &&
    [ "$(echo "${r#* }" | jq '[.windows[].window_start] | length')" = 1 ]; } || failed "a key's windows from a time: the second window only ($r)"
for t in 'ac*' 'acm?' '[a]cme' 'ac\'; do # glob characters in a tenant match nothing but themselves
    GLOB=$(DEVTOKEN_SCOPE='processor:admin' DEVTOKEN_TENANT="$t" "$BIN/devtoken")
    r=$(req "$GLOB" "$U1/pipelines/tumble-$S/windows?limit=5000")
    { [ "${r%% *}" = 200 ] && echo "${r#* }" | jqe '.windows == []'; } || failed "tenant $t reads no other tenant's windows ($r)"
done
# ?prefix=: the keys that start with it, glob characters matching only themselves
want=$(all_expected tumble dev | jq -c 'map(select(.[0] == "k1"))')
scan "$U1" "$ADMIN" tumble "prefix=k1&limit=1" >"$work/scanp"
{ [ "$(head -1 "$work/scanp")" = "$want" ] && [ "$want" != "[]" ] && [[ "$(sed -n 2p "$work/scanp")" == *" 0" ]]; } ||
    failed "a scan with prefix k1 holds k1's windows only, no page empty (want $want, got $(cat "$work/scanp"))"
r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?prefix=k&limit=5000")
{ [ "${r%% *}" = 200 ] && echo "${r#* }" | jqe --argjson n "$(all_expected tumble dev | jq length)" \
    '.prefix == "k" and (.windows | length) == $n and (has("next") | not)'; } || failed "prefix k holds every key's windows ($r)"
for p in 'k%2A' 'k%3F' '%5Bk%5D1' 'k%5C1' '%1F' 'k10'; do # k*, k?, [k]1, k\1, the tenant separator, a longer key
    r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?prefix=$p")
    { [ "${r%% *}" = 200 ] && echo "${r#* }" | jqe '.windows == []'; } || failed "prefix $p matches no key ($r)"
done
# ?key_from= and ?key_to=: the keys between them, both included
for range in 'k1 k3' 'k3 -' '- k0' 'k1 k1' 'k0x k2' 'k5 -' '- k'; do
    read -r lo hi <<<"$range"
    want=$(all_expected tumble dev | jq -c --arg lo "$lo" --arg hi "$hi" \
        'map(select(($lo == "-" or .[0] >= $lo) and ($hi == "-" or .[0] <= $hi)))')
    q="limit=1"
    [ "$lo" != - ] && q="$q&key_from=$lo"
    [ "$hi" != - ] && q="$q&key_to=$hi"
    scan "$U2" "$ADMIN" tumble "$q" >"$work/scanr"
    { [ "$(head -1 "$work/scanr")" = "$want" ] && [[ "$(sed -n 2p "$work/scanr")" == *" 0" ]]; } ||
        failed "keys from $lo to $hi, a window a page: their windows only, no page empty (want $want, got $(cat "$work/scanr"))"
done
r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?key_from=k1&key_to=k3&limit=5000")
{ [ "${r%% *}" = 200 ] && echo "${r#* }" | jqe '.key_from == "k1" and .key_to == "k3" and
    ([.windows[].key] | unique) == ["k1", "k2", "k3"]'; } || failed "keys k1 to k3 in one page, the range in the answer ($r)"
acme=$(scan "$U1" "$ACME" tumble "limit=1" | sed -n 1p)
{ [ "$acme" = "$(all_expected tumble acme)" ] && [ "$acme" != "[]" ]; } || failed "a scan reads the token's tenant only ($acme)"
for bad in 'limit=0' 'limit=5001' 'limit=x' 'limit=-1' 'limit=1e3' 'key=k0&limit=5' 'key=k0&cursor=1.0.0' \
    'cursor=x' 'cursor=1.0' 'cursor=' 'cursor=1.0.0.0' 'cursor=-1.0.0' 'cursor=1..0' 'cursor=0.0.0' \
    'cursor=99999999999999999999.0.0' 'cursor=1.2147483648.0' 'cursor=1.0.99999999999999999999999' \
    'cursor=1.0.0x' 'cursor=%201.0.0' 'from=yesterday' 'to=2026-13-01T00:00:00Z' "from=$to&to=$from" \
    'key=k0&prefix=k' 'prefix=%FF%FE' "prefix=$(printf 'x%.0s' $(seq 1 1100))" 'key=k0&key_from=k' \
    'key=k0&key_to=k' 'key_from=%FF' "key_to=$(printf 'x%.0s' $(seq 1 1100))" 'key_from=k3&key_to=k1' \
    'key=k0&key=k1' 'key=k0&key=k0' 'limit=5&limit=6' 'prefix=a&prefix=b' "from=$from&from=$from" \
    'tenant=dev&tenant=dev' 'cursor=1.0.0&cursor=1.0.0'; do
    r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?$bad")
    field=${bad%%=*}
    [ "$bad" = "from=$to&to=$from" ] && field=to
    [ "$bad" = "key_from=k3&key_to=k1" ] && field=key_to
    [[ "$bad" == key=k0\&* ]] && { field=${bad#key=k0&}; field=${field%%=*}; }
    { [ "${r%% *}" = 400 ] && [[ "$r" == *"\"message\":\"$field:"* ]]; } || failed "?$bad is 400 naming $field ($r)"
done

# 4,000 keys: each partition's hash holds hundreds, which Redis keeps as a hash table, so HSCAN
# gives them in several steps and a page ends in the middle of a hash (its cursor there)
awk -v t="$(date -u -d "@$((T / 1000))" +%Y-%m-%dT%H:%M:%SZ)" 'BEGIN {
    for (i = 0; i < 4000; i++)
        printf "m%d\t{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"/q\",\"id\":\"m%d\",\"tenant\":\"dev\",\"time\":\"%s\",\"data\":{\"k\":\"m%d\"}}\n", i, i, t, i
}' | kcat -P -b "$KAFKA_BROKERS" -t "$MANY" -K $'\t' 2>>"$work/kcat.log"
for _ in $(seq 1 300); do
    n=$(curl -s -H "Authorization: Bearer $ADMIN" "$U1/pipelines/many-$S/windows?limit=5000" | jq '.windows | length')
    [ "$n" = 4000 ] && break
    sleep 0.1
done
check "4,000 keys, one window each, in one page of up to 5,000 ($n)" [ "$n" = 4000 ]
scan "$U2" "$ADMIN" many "limit=150" >"$work/scan4"
read -r pages rows empty < <(sed -n 2p "$work/scan4")
distinct=$(head -1 "$work/scan4" | jq '[.[][0]] | unique | length')
ones=$(head -1 "$work/scan4" | jq '[.[] | select(.[2] == 1)] | length')
{
    [ "$rows" = 4000 ] && [ "$distinct" = 4000 ] && [ "$ones" = 4000 ] && [ "$pages" -ge 20 ] && [ "$empty" = 0 ]; } || failed "pages of 150: each key once, with its one event, no page empty ($pages pages, $rows windows, $distinct keys, $ones of one event, $empty empty)"
scan "$U2" "$ADMIN" many "prefix=m12&limit=20" >"$work/scan5"
read -r pages rows empty < <(sed -n 2p "$work/scan5")
keys=$(head -1 "$work/scan5" | jq -c '[.[][0]] | sort')
want=$(jq -nc '["m12"] + [range(10) | "m12\(.)"] + [range(100) | "m12\(. / 10 | floor)\(. % 10)"] | sort')
{ [ "$keys" = "$want" ] && [ "$rows" = 111 ] && [ "$pages" -ge 5 ] && [ "$empty" = 0 ]; } ||
    failed "prefix m12 in pages of 20: m12, m120-m129 and m1200-m1299, each once, no page empty ($pages pages, $rows windows, $empty empty)"
scan "$U1" "$ADMIN" many "prefix=m3&key_from=m3990&key_to=m3999&limit=3" >"$work/scan6"
read -r pages rows empty < <(sed -n 2p "$work/scan6")
keys=$(head -1 "$work/scan6" | jq -c '[.[][0]]')
{ [ "$keys" = "$(jq -nc '[range(3990; 4000) | "m\(.)"]')" ] && [ "$pages" -ge 2 ] && [ "$empty" = 0 ]; } ||
    failed "keys m3990 to m3999 with prefix m3 in pages of 3: those ten, each once, no page empty ($pages pages, $keys, $empty empty)"
cursors=$(curl -s -H "Authorization: Bearer $ADMIN" "$U1/pipelines/many-$S/windows?limit=150" | jq -r .next)
check "a page can end inside a partition's hash (its cursor: $cursors)" grep -Eqx '1\.[0-9]+\.[1-9][0-9]*' <<<"$cursors"

# a cursor of a version not run (any more) or past a hash's end: the pages after it, empty here
for c in 7.0.0 1.0.123456789 1.999999.0; do
    r=$(req "$ADMIN" "$U1/pipelines/tumble-$S/windows?cursor=$c")
    { [ "${r%% *}" = 200 ] && echo "${r#* }" | jqe '.windows | type == "array"'; } || failed "cursor $c answers what comes after it ($r)"
done

# tenants: acme's k0 is its own
want=$(expected tumble acme k0)
check "acme has events for k0 ($want)" [ "$want" != "[]" ]
wait_for "$U1" "$ACME" tumble k0 "$want"
check "a token of tenant acme reads acme's windows only (want $want, got $(got "$U1" "$ACME" tumble k0))" [ "$(got "$U1" "$ACME" tumble k0)" = "$want" ]

# hopping, one stage over keyed input
for k in k0 k3; do
    want=$(expected hop dev $k)
    wait_for "$U1" "$ADMIN" hop $k "$want"
    check "hopping: $k's windows hold the events produced (want $want, got $(got "$U1" "$ADMIN" hop $k))" [ "$(got "$U1" "$ADMIN" hop $k)" = "$want" ]
done

want=$(all_expected hop dev)
scan "$U2" "$ADMIN" hop "limit=4" >"$work/scan3"
{
    [ "$(head -1 "$work/scan3")" = "$want" ] && [ "$want" != "[]" ]; } || failed "hopping over keyed input: a scan reads every input partition (want $want, got $(head -1 "$work/scan3"))"

# sessions with having n >= 3: k0's events are 1.25 s apart (gap 2 s): one session of 12 events;
# a lone event of k9 (not late: the watermark is before T+14 s) makes a session of one, which
# having holds back, while the tumbling pipeline shows it
printf 'k9\t{"specversion":"1.0","type":"t","source":"/q","id":"lone","tenant":"dev","time":"%s","data":{"k":"k9","v":1}}\n' \
    "$(date -u -d "@$((T / 1000 + 14))" +%Y-%m-%dT%H:%M:%SZ)" | tee -a "$work/produced.tsv" |
    kcat -P -b "$KAFKA_BROKERS" -t "$IN" -K $'\t' 2>>"$work/kcat.log"
for _ in $(seq 1 100); do
    n=$(curl -s -H "Authorization: Bearer $ADMIN" "$U1/pipelines/sess-$S/windows?key=k0" | jq '[.windows[].n] | add // 0')
    [ "$n" = 12 ] && break
    sleep 0.1
done
check "session: k0's one session holds its 12 events ($n)" [ "$n" = 12 ]
want=$(expected tumble dev k9)
wait_for "$U1" "$ADMIN" tumble k9 "$want"
{ [ "$(got "$U1" "$ADMIN" tumble k9)" = "$want" ] && [ "$want" = "[[$((T + 10000)),1,1]]" ]; } || failed "the lone event of k9 is in the tumbling pipeline's state ($want)"
r=$(req "$ADMIN" "$U1/pipelines/sess-$S/windows?key=k9")
{ [ "${r%% *}" = 200 ] && [[ "$r" == *'"windows":[]'* ]]; } || failed "session: a window that having holds back is left out ($r)"

# a late event revises the closed window: revision 1, one more event
produce 2000 1 $((T + 1000)) 0 # id 2000: k0, v = 2000 % 7
want=$(expected tumble dev k0)
wait_for "$U1" "$ADMIN" tumble k0 "$want"
check "a late event counts in the closed window (want $want, got $(got "$U1" "$ADMIN" tumble k0))" [ "$(got "$U1" "$ADMIN" tumble k0)" = "$want" ]
check "... which fired again: revision 1" jqe '.windows[0].revision == 1 and .windows[0].open == false and .windows[1].revision == 0' "$work/answer"

# at T+35 s, past the first window's lateness (its end + 20 s): it is gone, the second closed
# (its lateness runs to T+40 s), the newest open
produce 3000 5 $((T + 35000)) 0
cond='(.windows | length) == 2 and .windows[0].open == false and .windows[1].open == true and (.windows[0].window_start | sub("\\.[0-9]+Z$"; "Z") | fromdate * 1000) == '$((T + 10000))
for _ in $(seq 1 100); do
    got "$U1" "$ADMIN" tumble k0 >/dev/null
    jq -e "$cond" "$work/answer" >/dev/null && break
    sleep 0.1
done
check "an expired window is gone, the one after it closed, the newest open ($(cat "$work/answer"))" jqe "$cond" "$work/answer"

[ "$fail" = 0 ] && say "ok"
exit $fail
