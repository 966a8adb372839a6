#!/usr/bin/env bash
# test_observability.sh <build-dir>: the alert rules pass `promtool check rules` and their unit
# tests (`promtool test rules`, Debian's prometheus package), each alert links a runbook section
# of docs/operations.md that exists, and the Grafana dashboard is valid JSON whose panels each
# query something, with unique ids. (That every metric they use is exported by a daemon is
# checked against the running stack in tests/e2e/run.sh.)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
fail=0
say() { echo "observability: $*"; }
command -v promtool >/dev/null || { say "FAIL: promtool missing (scripts/deps.sh installs prometheus)"; exit 1; }
promtool check rules deploy/prometheus/alerts.yml >/dev/null || { say "FAIL: promtool check rules"; fail=1; }
(cd deploy/prometheus && promtool test rules alerts_test.yml >/dev/null) || { say "FAIL: promtool test rules"; fail=1; }
alerts=$(awk '$1 == "-" && $2 == "alert:" { print $3 }' deploy/prometheus/alerts.yml)
[ "$(echo "$alerts" | wc -w)" -ge 8 ] || { say "FAIL: fewer alerts than expected"; fail=1; }
for a in $alerts; do
    grep -qx "### $a" docs/operations.md || { say "FAIL: no runbook section '### $a' in docs/operations.md"; fail=1; }
    lower=$(echo "$a" | tr 'A-Z' 'a-z')
    grep -q "runbook: docs/operations.md#$lower\$" deploy/prometheus/alerts.yml ||
        { say "FAIL: $a does not link docs/operations.md#$lower"; fail=1; }
done
for d in deploy/grafana/*.json; do
    jq -e . "$d" >/dev/null || { say "FAIL: $d is not JSON"; fail=1; continue; }
    bad=$(jq '[.panels[] | select(.type != "row") | select((.targets // []) | map(.expr // "") | map(select(. != "")) | length == 0)] | length' "$d")
    [ "$bad" = 0 ] || { say "FAIL: $d: $bad panels query nothing"; fail=1; }
    n=$(jq '[.panels[] | select(.type != "row")] | length' "$d")
    [ "$n" -ge 15 ] || { say "FAIL: $d: only $n panels"; fail=1; }
    [ "$(jq '[.panels[].id] | length == (unique | length)' "$d")" = true ] || { say "FAIL: $d: panel ids repeat"; fail=1; }
    for row in Gateway Registry Processor Rules Store Output; do
        jq -e --arg r "$row" '[.panels[] | select(.type == "row" and .title == $r)] | length == 1' "$d" >/dev/null ||
            { say "FAIL: $d: no row for $row"; fail=1; }
    done
done
[ $fail = 0 ] && say "ok ($(echo "$alerts" | wc -w) alerts with runbooks and unit tests, dashboard)"
exit $fail
