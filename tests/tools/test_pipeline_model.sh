#!/usr/bin/env bash
# test_pipeline_model.sh <build-dir>: pipeline-run against an independent reference model of the
# window and join semantics (tests/tools/pipeline_model.py) over random inputs: tumbling, hopping
# and session windows, interval joins, out-of-orderness, allowed lateness, emit final and update,
# `having`, watermark lines, tenants and a source filter. Every result, late event and joined pair
# must agree, each window's revisions must come in order, and no id may be given to two different
# outputs. Two fixed seeds, so a failure names a case that can be run again.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:?usage: test_pipeline_model.sh <build-dir>}/bin/pipeline-run
fail=0
for seed in 1 2; do
    python3 "$ROOT/tests/tools/pipeline_model.py" "$BIN" "${PIPELINE_MODEL_CASES:-250}" $seed || fail=1
done
exit $fail
