#!/usr/bin/env bash
# test_pipeline_model.sh <build-dir>: pipeline-run against the reference model of the window
# rules (tests/tools/pipeline_model.py) on 300 random cases of a fixed seed, so every run checks
# the same inputs: tumbling, hopping and session windows with offsets, lateness, emit update,
# times taken from the events' data (source.time),
# early firings, having, partitions and every aggregate, deduplication of events sent again, and
# interval joins. Run it with more
# cases and other seeds when changing the engine (docs/pipelines.md, "pipeline-run").
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_pipeline_model.sh <build-dir>}
exec python3 "$ROOT/tests/tools/pipeline_model.py" "$BUILD/bin/pipeline-run" 300 1
