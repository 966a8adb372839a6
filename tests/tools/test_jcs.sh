#!/usr/bin/env bash
# test_jcs.sh <build-dir>: the jcs tool (cm_json_dumps_canonical in common/src/formats/jsonw.c, RFC 8785) against Node.js as the
# independent implementation (jcs_corpus.js): edge and 3,000 random doubles, escapes, and member
# names sorted by UTF-16 code units; also a document signed with OpenSSL's command line over
# `jcs --without signature` verifies with the same command, and docs/signing.md's worked example
# (its canonical bytes and signature) holds.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: test_jcs.sh <build-dir>}
work=$(mktemp -d /tmp/jcs-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
say() { echo "jcs: $*"; }
fail=0
node "$ROOT/tests/tools/jcs_corpus.js" 3000 "$work/in.ndjson" "$work/want.ndjson" || { say "FAIL: corpus"; exit 1; }
"$ROOT/$BUILD/bin/jcs" <"$work/in.ndjson" >"$work/got.ndjson" || { say "FAIL: jcs exited $?"; fail=1; }
lines=$(wc -l <"$work/want.ndjson")
if [ "$lines" -lt 3000 ]; then
    say "FAIL: only $lines documents in the corpus"
    fail=1
elif ! cmp -s "$work/want.ndjson" "$work/got.ndjson"; then
    say "FAIL: canonical forms differ from Node's (first differences):"
    diff "$work/want.ndjson" "$work/got.ndjson" | head -6
    fail=1
fi
# hostile input: not JSON, duplicate names (RFC 8785 needs I-JSON), deep nesting
printf '{"a":1,"a":2}\n{"a":\n%s\n' "$(head -c 2000 /dev/zero | tr '\0' '[')" >"$work/bad.ndjson"
if "$ROOT/$BUILD/bin/jcs" <"$work/bad.ndjson" >"$work/bad.out" 2>"$work/bad.err"; then
    say "FAIL: bad documents accepted"
    fail=1
elif [ -s "$work/bad.out" ] || [ "$(wc -l <"$work/bad.err")" -ne 3 ]; then
    say "FAIL: each bad line must be reported and nothing printed ($(cat "$work/bad.err"))"
    fail=1
fi
# a signature made with OpenSSL's command line over the canonical bytes
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
echo '{"type":"payment.created","source":"/shop","id":"p-1","sigkeyid":"shop-1","data":{"amount":4.50,"items":[2,1]}}' >"$work/event.json"
"$ROOT/$BUILD/bin/jcs" --without signature <"$work/event.json" | tr -d '\n' >"$work/canon"
[ "$(cat "$work/canon")" = '{"data":{"amount":4.5,"items":[2,1]},"id":"p-1","sigkeyid":"shop-1","source":"/shop","type":"payment.created"}' ] ||
    { say "FAIL: canonical event $(cat "$work/canon")"; fail=1; }
openssl pkeyutl -sign -rawin -inkey "$work/key.pem" -in "$work/canon" -out "$work/sig" &&
    openssl pkeyutl -verify -rawin -pubin -inkey "$work/pub.pem" -in "$work/canon" -sigfile "$work/sig" >/dev/null ||
    { say "FAIL: OpenSSL's signature over the canonical bytes"; fail=1; }
# docs/signing.md's worked example: its canonical bytes and its signature, which verifies with
# the example public key
doc="$ROOT/docs/signing.md"
ex_canon=$("$ROOT/$BUILD/bin/jcs" --without signature <"$ROOT/docs/signing/example-event.json" | tr -d '\n')
grep -qF "$ex_canon" "$doc" || { say "FAIL: docs/signing.md does not show the canonical bytes $ex_canon"; fail=1; }
ex_sig=$(grep -o '"signature":"[A-Za-z0-9_-]*"' "$doc" | head -1 | cut -d'"' -f4)
printf %s "$ex_canon" >"$work/ex.canon"
padded=$(printf %s "$ex_sig" | tr -- '-_' '+/')
while [ $((${#padded} % 4)) != 0 ]; do padded="$padded="; done
printf %s "$padded" | base64 -d >"$work/ex.sig" 2>/dev/null
if [ -z "$ex_sig" ] || ! openssl pkeyutl -verify -rawin -pubin -inkey "$ROOT/docs/signing/example-ed25519.pub.pem" \
    -in "$work/ex.canon" -sigfile "$work/ex.sig" >/dev/null 2>&1; then
    say "FAIL: the signature in docs/signing.md ($ex_sig) does not verify with the example key"
    fail=1
fi
[ $fail = 0 ] && say "ok ($lines documents equal to Node's canonical forms; hostile lines refused)"
exit $fail
