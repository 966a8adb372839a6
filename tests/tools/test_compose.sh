#!/usr/bin/env bash
# test_compose.sh <build-dir>: docker-compose.yml and the Dockerfile checked without a container
# engine (none is packaged for Debian): Debian's docker-compose parses and validates the file
# offline (`config -q`), then its normalized form is checked against the daemons themselves:
#   - every variable a daemon requires (`(required)` in its --help) and every address `make run`
#     gives it that it reads (KAFKA_BROKERS, REDIS_URL, DATABASE_URL, ...) is set for it;
#   - every variable set for a daemon is one it knows (a typo would be ignored silently), apart
#     from HEALTH_PORT (the image's health check) and the shared KAFKA_ client settings;
#   - its port variable, HEALTH_PORT and the published port agree; it has a health check, a
#     restart policy, and waits for Kafka's topics, Redis and PostgreSQL to be ready;
#   - files it is pointed at exist in the image (config/ is copied to /etc/events);
#   - kafka-init creates every topic the daemons use by default, and the data lives in named
#     volumes;
#   - the observability profile: Prometheus's configuration passes `promtool check config` and
#     scrapes every daemon at its port, and the files mounted into Prometheus and Grafana exist;
#   - the Dockerfile copies what `make all` needs, runs as a non-root user and has a HEALTHCHECK.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: test_compose.sh <build-dir>}
if ! command -v docker-compose >/dev/null; then
    echo "compose: FAIL: docker-compose is not installed (scripts/deps.sh installs it)"
    exit 1
fi
if ! docker-compose -f docker-compose.yml config -q; then
    echo "compose: FAIL: docker-compose.yml does not validate"
    exit 1
fi
docker-compose -f docker-compose.yml --profile observability config >"${TMPDIR:-/tmp}/compose.$$.yml" || exit 1
# Prometheus's configuration as promtool sees it, the rules at their path in the repository
sed "s|/etc/prometheus/alerts.yml|$ROOT/deploy/prometheus/alerts.yml|" deploy/prometheus/prometheus.yml \
    >"${TMPDIR:-/tmp}/prometheus.$$.yml"
if ! promtool check config "${TMPDIR:-/tmp}/prometheus.$$.yml" >/dev/null; then
    echo "compose: FAIL: promtool check config deploy/prometheus/prometheus.yml"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/prometheus.$$.yml"
trap 'rm -f "${TMPDIR:-/tmp}/compose.$$.yml"' EXIT
# Debian's python3 (a dependency of docker-compose, with its YAML module)
/usr/bin/python3 - "$BUILD" "${TMPDIR:-/tmp}/compose.$$.yml" <<'PY'
import os, re, subprocess, sys, yaml

build, path = sys.argv[1], sys.argv[2]
cfg = yaml.safe_load(open(path))
services = cfg.get("services", {})
fails = []

def fail(msg):
    fails.append(msg)

# what `make run` gives every daemon (scripts/stack-lib.sh), when the daemon reads it
STACK = ["KAFKA_BROKERS", "REDIS_URL", "DATABASE_URL", "REGISTRY_URL", "S3_ENDPOINT", "S3_BUCKET",
         "S3_REGION", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "JWT_HS256_SECRET",
         "RULES_FILE", "PROCESSOR_PIPELINES_DIR"]
DAEMONS = ["gateway", "registry", "processor", "rules", "store", "output"]
checked = 0
for d in DAEMONS:
    svc = services.get(d)
    if not svc:
        fail(f"{d}: not in the compose file")
        continue
    out = subprocess.run([f"{build}/bin/{d}", "--help"], capture_output=True, text=True).stdout
    known, required = set(), set()
    for line in out.splitlines()[3:]:
        m = re.match(r"\s+([A-Z][A-Z0-9_]+)\s+\S+\s+(\S+)", line)
        if m:
            known.add(m.group(1))
            if m.group(2) == "(required)":
                required.add(m.group(1))
    if not known:
        fail(f"{d}: --help listed no variables")
        continue
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
    for var in sorted(required | (set(STACK) & known)):
        if not env.get(var):
            fail(f"{d}: {var} is not set")
        checked += 1
    for var in env:
        if var not in known and var != "HEALTH_PORT" and not var.startswith("KAFKA_"):
            fail(f"{d}: {var} is not a variable of {d}")
    port_var = d.upper() + "_PORT"
    port = env.get(port_var)
    if not port or env.get("HEALTH_PORT") != port:
        fail(f"{d}: {port_var} ({port}) and HEALTH_PORT ({env.get('HEALTH_PORT')}) must agree")
    targets = [str(p.get("target")) for p in svc.get("ports", []) if isinstance(p, dict)]
    if port not in targets:
        fail(f"{d}: port {port} is not published ({targets})")
    if svc.get("command") != [d]:
        fail(f"{d}: the command must be [{d}], not {svc.get('command')}")
    if not svc.get("healthcheck", {}).get("test"):
        fail(f"{d}: no health check")
    if svc.get("restart") not in ("unless-stopped", "always", "on-failure"):
        fail(f"{d}: restart policy {svc.get('restart')}")
    deps = svc.get("depends_on") or {}
    for need, cond in (("kafka-init", "service_completed_successfully"),
                       ("redis", "service_healthy"), ("postgres", "service_healthy")):
        if deps.get(need, {}).get("condition") != cond:
            fail(f"{d}: does not wait for {need} ({cond})")
    for var in ("RULES_FILE", "PROCESSOR_PIPELINES_DIR"):
        v = env.get(var)
        if v and not (v.startswith("/etc/events/") and
                      os.path.exists(os.path.join("config", v[len("/etc/events/"):]))):
            fail(f"{d}: {var}={v} is not a file the image has (config/ is /etc/events)")
if checked < 12:
    fail(f"only {checked} required variables checked")

# topics: every default TOPIC_* of the daemons is created by kafka-init
init = " ".join(services.get("kafka-init", {}).get("command") or [])
topics = set()
for d in DAEMONS:
    out = subprocess.run([f"{build}/bin/{d}", "--help"], capture_output=True, text=True).stdout
    for m in re.finditer(r"^\s+TOPIC_[A-Z_]+\s+\S+\s+(\S+)", out, re.M):
        topics.add(m.group(1))
if not topics:
    fail("no TOPIC_ variables found in the daemons' --help")
for t in sorted(topics):
    if not re.search(r"(^|\s)" + re.escape(t) + r":", init):
        fail(f"kafka-init does not create topic {t}")
for name in ("kafka", "redis", "postgres", "minio"):
    vols = services.get(name, {}).get("volumes") or []
    named = set((cfg.get("volumes") or {}).keys())
    if not any((isinstance(v, dict) and v.get("type") == "volume") or
               (isinstance(v, str) and v.split(":")[0] in named) for v in vols):
        fail(f"{name}: its data is not in a named volume")
if "minio-init" not in services or "mb" not in " ".join(services["minio-init"].get("command") or []):
    fail("minio-init does not create the bucket")

# the observability profile: Prometheus scrapes every daemon as events-<daemon> at its port and
# loads the alert rules; Grafana is provisioned with the dashboard; every mounted file exists
for name in ("prometheus", "grafana"):
    svc = services.get(name)
    if not svc or svc.get("profiles") != ["observability"]:
        fail(f"{name}: not in the observability profile")
        continue
    for v in svc.get("volumes") or []:
        src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith("/") and not os.path.exists(src):
            fail(f"{name}: mounts {src}, which does not exist")
prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in prom.get("scrape_configs", [])}
for d in DAEMONS:
    port = str((services.get(d, {}).get("environment") or {}).get(d.upper() + "_PORT"))
    if jobs.get("events-" + d) != [f"{d}:{port}"]:
        fail(f"prometheus.yml: job events-{d} does not scrape {d}:{port} ({jobs.get('events-' + d)})")

docker = open("Dockerfile").read()
for want, what in ((r"^FROM debian:bookworm AS build", "a bookworm build stage"),
                   (r"^FROM debian:bookworm-slim", "a slim runtime stage"),
                   (r"^USER 10001", "a non-root user"), (r"^HEALTHCHECK ", "a HEALTHCHECK"),
                   (r"make -j\S* all", "make all")):
    if not re.search(want, docker, re.M):
        fail(f"Dockerfile: no {what}")
for src in re.findall(r"^COPY (?!--from)(\S+) ", docker, re.M):
    if not os.path.exists(src):
        fail(f"Dockerfile copies {src}, which does not exist")
ignored = open(".dockerignore").read().split()
for d in ("build/", ".stack/", ".git/"):
    if d not in ignored:
        fail(f".dockerignore does not leave out {d}")

for f in fails:
    print("compose: FAIL:", f)
if not fails:
    print(f"compose: ok ({checked} required variables of {len(DAEMONS)} daemons, "
          f"{len(topics)} topics, Dockerfile)")
sys.exit(1 if fails else 0)
PY
