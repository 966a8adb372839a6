#!/usr/bin/env bash
# test_processor_db_late.sh <build-dir>: a processor whose PostgreSQL (the definitions store) is
# not there when it starts, as when the database comes up later or fails over while the
# processor restarts, waits for it instead of exiting: it stays up, says why, and once the
# database answers it stores the pipeline of PROCESSOR_PIPELINES_DIR and runs it. Here the
# database's address first leads nowhere; then a forwarder to the harness's PostgreSQL starts on
# it. Run through tests/integration/run.sh (PostgreSQL, Redis and the development broker).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_processor_db_late.sh <build-dir>}
. "$ROOT/scripts/stack-lib.sh"
BIN=$ROOT/$BUILD/bin
: "${DATABASE_URL:?run through tests/integration/run.sh}" "${PG_PORT:?}" "${KAFKA_BROKERS:?}"
work=$(mktemp -d /tmp/proc-dblate.XXXXXX)
pid= fwd=
fail=0
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    [ -n "$fwd" ] && kill -KILL "$fwd" 2>/dev/null
    wait 2>/dev/null
    if [ "$fail" = 0 ]; then rm -rf "$work"; else echo "processor db late: logs kept in $work"; fi
}
trap cleanup EXIT
say() { echo "processor db late: $*"; }
failed() { say "FAIL: $*"; fail=1; }

S=$$
NAME=dblate-$S
DB_PORT=$(stack_free_port)
PORT=$(stack_free_port)
url=${DATABASE_URL/:$PG_PORT\//:$DB_PORT/}
[ "$url" != "$DATABASE_URL" ] || { failed "cannot move DATABASE_URL ($DATABASE_URL) to another port"; exit 1; }
mkdir -p "$work/pipelines"
cat >"$work/pipelines/def.json" <<JSON
{"name": "$NAME", "source": {"topics": ["dblate-in-$S"]}, "steps": [{"map": {"v": "data.v"}}],
 "sink": {"topic": "dblate-out-$S"}}
JSON
DATABASE_URL=$url PROCESSOR_AUTH_DISABLED=true PROCESSOR_PORT=$PORT BIND_ADDR=127.0.0.1 \
    LOG_LEVEL=info PROCESSOR_GROUP=dblate-$S REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
    PROCESSOR_PIPELINES_DIR="$work/pipelines" TOPIC_LATE=dblate-late-$S \
    "$BIN/processor" >>"$work/processor.log" 2>&1 </dev/null &
pid=$!
sleep 3
kill -0 "$pid" 2>/dev/null || failed "the processor exited without its database"
grep -q '"event":"definitions_unavailable"' "$work/processor.log" ||
    failed "no definitions_unavailable line while the database is away"

# the database's address now leads to the harness's PostgreSQL
python3 - "$DB_PORT" "$PG_PORT" >"$work/forwarder.log" 2>&1 <<'PY' &
import socket, sys, threading
listen = socket.socket()
listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen.bind(("127.0.0.1", int(sys.argv[1])))
listen.listen(16)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = listen.accept()
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pipe, args=(c, s), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
PY
fwd=$!
listed=
for _ in $(seq 1 200); do
    if curl -s "http://127.0.0.1:$PORT/pipelines/$NAME" 2>/dev/null | grep -q '"state":"running"'; then
        listed=1
        break
    fi
    sleep 0.1
done
[ -n "$listed" ] || failed "the pipeline of the directory is not running once the database answers ($(curl -s "http://127.0.0.1:$PORT/pipelines/$NAME"))"
kill -0 "$pid" 2>/dev/null || failed "the processor is not running"
[ "$fail" = 0 ] && say "ok (waited for its database, then stored and ran the pipeline of its directory)"
exit "$fail"
