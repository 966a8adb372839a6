#!/usr/bin/env bash
# test_schema_validate.sh <build-dir>: schema-validate prints `valid` or the pointed errors per
# NDJSON instance for JSON Schema and Avro, exits 1 when some instance is invalid and 2 for a
# schema that does not compile or bad usage.
set -uo pipefail
BIN=${1:?usage: test_schema_validate.sh <build-dir>}/bin/schema-validate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {
    if [ "$2" != "$3" ]; then
        printf 'schema-validate: %s\n  expected: %q\n  got:      %q\n' "$1" "$2" "$3"
        fail=1
    fi
}
echo '{"type":"object","required":["a"],"properties":{"a":{"type":"integer","minimum":3}}}' >"$tmp/s.json"
got=$(printf '%s\n' '{"a":5}' '{"a":1}' '{}' 'nope' | "$BIN" --schema "$tmp/s.json")
rc=$?
check "json results" $'valid\n/a: must be >= 3\n/: \'a\' is required\ninvalid JSON at column 4: invalid token near \'nope\'' "$got"
check "json status" 1 "$rc"
printf '%s\n' '{"a":5}' | "$BIN" --schema "$tmp/s.json" >/dev/null
check "all valid status" 0 "$?"
echo '{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}' >"$tmp/s.avsc"
got=$(printf '%s\n' '{"n":1}' '{"n":"x"}' | "$BIN" --schema "$tmp/s.avsc" --type AVRO)
check "avro results" $'valid\n/n: must be a 32-bit integer' "$got"
echo '{"pattern":"("}' >"$tmp/bad.json"
"$BIN" --schema "$tmp/bad.json" </dev/null >/dev/null 2>&1
check "bad schema status" 2 "$?"
"$BIN" --schema "$tmp/s.json" --type XML </dev/null >/dev/null 2>&1
check "usage status" 2 "$?"
[ $fail = 0 ] && echo "schema-validate: ok"
exit $fail
