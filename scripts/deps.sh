#!/usr/bin/env bash
# deps.sh: installs the Debian packages the project needs to build, test and run, with apt-get,
# non-interactively. Does nothing when everything is present (checked with dpkg first).
set -euo pipefail

PACKAGES=(
    # build
    gcc make pkg-config libc6-dev
    # libraries (what each is for: README.md, "Libraries")
    librdkafka-dev libmicrohttpd-dev libhiredis-dev libpq-dev libjansson-dev libjwt-dev
    libavro-dev libcurl4-openssl-dev libwslay-dev libpcre2-dev libssl-dev zlib1g-dev
    libjemalloc-dev libcrypt-dev
    # the JSON Schema meta-schemas embedded at build time (scripts/gen-metaschemas.sh)
    python3 python3-jsonschema
    # tests (clang and its runtime for the libFuzzer targets; confluent-kafka produces records
    # with a timestamp of the test's choosing, which kcat cannot)
    libcriterion-dev curl clang libclang-rt-14-dev json-schema-test-suite python3-confluent-kafka
    # local stack: servers the harness and `make run` start; openssl hashes the registry's
    # development password
    redis-server postgresql openssl
    # operator tools pointed at the stack (.stack/env)
    kcat
    # load generator for the benchmarks
    wrk
    # deployment checks without a container engine: compose files parsed offline, alert rules
    # checked and unit-tested with promtool
    docker-compose prometheus python3-yaml
    # the Helm chart rendered as `helm template` would (no helm binary is packaged): Go and
    # Helm's template function library
    golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# s3rver (the S3 server of the local stack) runs on Node.js from the npm registry. Any node/npm
# already on PATH will do (Debian's or another distribution of them); otherwise install Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q </dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
