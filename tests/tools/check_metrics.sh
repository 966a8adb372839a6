#!/usr/bin/env bash
# check_metrics.sh <dir>: every metric the Grafana dashboard (deploy/grafana/*.json) and the alert
# rules (deploy/prometheus/alerts.yml) query is exported by some daemon. <dir> holds each
# daemon's /metrics text (<daemon>.prom), scraped from a running stack (tests/e2e/run.sh does):
# every registered family prints its # TYPE line even before it has a series. Histograms count
# with their _bucket, _sum and _count series; `up` is Prometheus's own.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?usage: check_metrics.sh <dir of <daemon>.prom files>}
exported=$(cat "$DIR"/*.prom | awk '$1 == "#" && $2 == "TYPE" {
    print $3; if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" } }' | sort -u)
[ -n "$exported" ] || { echo "metrics: FAIL: nothing scraped in $DIR"; exit 1; }
used=$(cat "$ROOT"/deploy/grafana/*.json "$ROOT"/deploy/prometheus/alerts.yml |
    grep -oE '\b(gateway|registry|processor|rules|store|output)_[a-z0-9_]+' | sort -u)
[ "$(echo "$used" | wc -l)" -ge 20 ] || { echo "metrics: FAIL: too few metrics found in the dashboard and rules"; exit 1; }
fail=0
for m in $used; do
    if ! grep -qx "$m" <<<"$exported"; then
        echo "metrics: FAIL: $m is queried by the dashboard or the alert rules but no daemon exports it"
        fail=1
    fi
done
[ $fail = 0 ] && echo "metrics: ok ($(echo "$used" | wc -l) metrics of the dashboard and alert rules exported)"
exit $fail
