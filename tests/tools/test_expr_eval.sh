#!/usr/bin/env bash
# test_expr_eval.sh <build-dir>: the expr-eval tool prints one line per NDJSON event (a JSON value
# or "error: ..."), skips blank lines, reports invalid JSON per line, and exits 2 with the
# positioned message when the expression does not compile.
set -uo pipefail
BIN=${1:?usage: test_expr_eval.sh <build-dir>}/bin/expr-eval
fail=0
check() { # check <name> <expected> <actual>
    if [ "$2" != "$3" ]; then
        printf 'expr-eval: %s\n  expected: %q\n  got:      %q\n' "$1" "$2" "$3"
        fail=1
    fi
}
input=$(printf '%s\n' '{"type":"a","data":{"n":2}}' '' '{"type":"b"}' 'not json' '{"type":"c","data":{"n":1.5}}')
got=$(printf '%s\n' "$input" | "$BIN" 'data.n * 10' 2>&1)
check "values and errors" $'20\nerror: no such key: data\nerror: invalid JSON at column 3: invalid token near \'not\'\nerror: no such overload: double * int' "$got"
got=$(printf '%s\n' "$input" | "$BIN" 'has(data) ? {"t": type} : [type]' 2>&1)
check "structured results" $'{"t":"a"}\n["b"]\nerror: invalid JSON at column 3: invalid token near \'not\'\n{"t":"c"}' "$got"
got=$("$BIN" 'type ==' </dev/null 2>&1)
rc=$?
check "compile error message" "1:8: unexpected end of input" "$got"
check "compile error status" 2 "$rc"
"$BIN" </dev/null >/dev/null 2>&1
check "usage status" 2 "$?"
[ $fail = 0 ] && echo "expr-eval: ok"
exit $fail
