#!/usr/bin/env bash
# test_helm.sh <build-dir>: the Helm chart (helm/events) rendered as `helm template` would and
# checked. No helm binary is packaged for Debian, so tests/helm/render.go renders it with Go's
# text/template and Helm's own function library (sprig, Debian's
# golang-github-masterminds-sprig-dev), plus Helm's include/toYaml/required/lookup, with the
# default values and with examples/production-values.yaml. For each:
#   - the merged values are valid against values.schema.json (with the project's JSON Schema
#     validator), and bad values are refused;
#   - every manifest has a known kind and apiVersion, a name and the chart's labels;
#   - every container has liveness and readiness probes on /livez and /readyz, resources, a
#     read-only root and runs as non-root;
#   - Deployment selectors match their pod labels, Services, PDBs and NetworkPolicies select
#     pods of some Deployment, HPAs and ScaledObjects scale an existing Deployment, and every
#     Secret and ConfigMap a pod refers to is rendered (or is the existingSecret, or a tlsSecrets
#     one), every mount is a volume of its pod, and a file REDIS_URL (ssl_ca_certs, ...) or a
#     KAFKA_SSL_*_LOCATION names lies in a volume mounted read-only; the gateway's
#     registry password verifies against the bcrypt hash the chart writes for the registry.
# Also: a Redis URL with a password (secrets.redisUrl) reaches the daemons from the Secret and
# appears in no Deployment; one given twice or not at all is refused at render.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:?usage: test_helm.sh <build-dir>}
work=$(mktemp -d /tmp/helm-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
say() { echo "helm: $*"; }
command -v go >/dev/null || { say "FAIL: go missing (scripts/deps.sh installs golang-go)"; exit 1; }
if ! GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" \
    go build -o "$work/render" tests/helm/render.go; then
    say "FAIL: the renderer does not build"
    exit 1
fi
render() { # render <name> [values...]
    local name=$1
    shift
    VALUES_JSON="$work/$name.values.json" "$work/render" helm/events rel ns "$@" >"$work/$name.yaml" 2>"$work/$name.err"
}
# a Redis URL that holds a password: in the Secret, not in the Deployments
printf 'redis: {url: ""}\nsecrets: {redisUrl: "rediss://:s3cret-pw@redis.example.com:6380/0"}\n' \
    >"$work/secreturl-values.yaml"
for case in default production secreturl; do
    case $case in
    default) render default ;;
    production) render production helm/events/examples/production-values.yaml ;;
    secreturl) render secreturl "$work/secreturl-values.yaml" ;;
    esac || { say "FAIL: $case values do not render: $(cat "$work/$case.err")"; fail=1; continue; }
    out=$("$BUILD/bin/schema-validate" --schema helm/events/values.schema.json <"$work/$case.values.json")
    [ "$out" = valid ] || { say "FAIL: $case values: $out"; fail=1; }
    /usr/bin/python3 - "$work/$case.yaml" "$case" <<'PY' || fail=1
import sys, yaml
path, case = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
fails = []
KINDS = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
         "PodDisruptionBudget": "policy/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
         "NetworkPolicy": "networking.k8s.io/v1", "Ingress": "networking.k8s.io/v1",
         "ServiceMonitor": "monitoring.coreos.com/v1", "ScaledObject": "keda.sh/v1alpha1"}
by = {}
for d in docs:
    k, name = d.get("kind"), (d.get("metadata") or {}).get("name")
    if KINDS.get(k) != d.get("apiVersion"):
        fails.append(f"{k} {name}: apiVersion {d.get('apiVersion')}")
    if not name:
        fails.append(f"{k}: no metadata.name")
    labels = (d.get("metadata") or {}).get("labels") or {}
    for l in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "helm.sh/chart"):
        if l not in labels:
            fails.append(f"{k} {name}: no label {l}")
    by.setdefault(k, {})[name] = d
deps = by.get("Deployment", {})
if len(deps) != 6:
    fails.append(f"{len(deps)} Deployments, not 6")
pod_labels = []
refs = set()
for name, d in deps.items():
    spec = d["spec"]
    sel = spec["selector"]["matchLabels"]
    plabels = spec["template"]["metadata"]["labels"]
    pod_labels.append(plabels)
    if any(plabels.get(k) != v for k, v in sel.items()):
        fails.append(f"Deployment {name}: selector does not match its pod labels")
    pod = spec["template"]["spec"]
    if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
        fails.append(f"Deployment {name}: pod not runAsNonRoot")
    for c in pod["containers"]:
        for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
            if ((c.get(probe) or {}).get("httpGet") or {}).get("path") != path:
                fails.append(f"{name}/{c['name']}: no {probe} on {path}")
        if (c.get("readinessProbe") or {}).get("timeoutSeconds", 1) < 3:
            fails.append(f"{name}/{c['name']}: readinessProbe times out before the checks' "
                         "own deadlines (PostgreSQL 1 s, Redis 2 s) answer")
        r = c.get("resources") or {}
        if not r.get("requests") or not r.get("limits", {}).get("memory"):
            fails.append(f"{name}/{c['name']}: resources incomplete")
        if not (c.get("securityContext") or {}).get("readOnlyRootFilesystem"):
            fails.append(f"{name}/{c['name']}: root filesystem not read-only")
        port = str(c["ports"][0]["containerPort"])
        env = {e["name"]: e for e in c.get("env", [])}
        pvar = c["name"].upper() + "_PORT"
        if env.get(pvar, {}).get("value") != port:
            fails.append(f"{name}: {pvar} is not the container port {port}")
        for e in env.values():
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add(("Secret", ref["name"]))
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for v in vols.values():
        if "configMap" in v:
            refs.add(("ConfigMap", v["configMap"]["name"]))
        if "secret" in v:
            refs.add(("Secret", v["secret"]["secretName"]))
    for c in pod["containers"]:
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        for m in mounts.values():
            if m["name"] not in vols:
                fails.append(f"{name}/{c['name']}: mounts {m['name']}, which is no volume of the pod")
        # a file REDIS_URL or a KAFKA_SSL_* setting names lies in a volume mounted read-only
        env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        import re, urllib.parse
        files = [v for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(env.get("REDIS_URL", "")).query)
                 if k.startswith("ssl_") and k.endswith(("certs", "file"))]
        files += [v for k, v in env.items() if re.match(r"KAFKA_SSL_.*_LOCATION$", k)]
        for f in files:
            if not any(f.startswith(p.rstrip("/") + "/") and m.get("readOnly") for p, m in mounts.items()):
                fails.append(f"{name}/{c['name']}: {f} is in no volume mounted read-only")
def selects(sel):
    return any(all(p.get(k) == v for k, v in sel.items()) for p in pod_labels)
for name, s in by.get("Service", {}).items():
    if not selects(s["spec"]["selector"]):
        fails.append(f"Service {name} selects no Deployment's pods")
for kind in ("PodDisruptionBudget",):
    for name, p in by.get(kind, {}).items():
        if not selects(p["spec"]["selector"]["matchLabels"]):
            fails.append(f"{kind} {name} selects no pods")
for name, n in by.get("NetworkPolicy", {}).items():
    if not selects(n["spec"]["podSelector"]["matchLabels"]):
        fails.append(f"NetworkPolicy {name} selects no pods")
for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
    for name, h in by.get(kind, {}).items():
        if h["spec"]["scaleTargetRef"]["name"] not in deps:
            fails.append(f"{kind} {name} scales a Deployment that is not rendered")
for k, name in sorted(refs):
    if name not in by.get(k, {}) and not (k == "Secret" and case == "production" and name in ("events-secrets", "redis-ca")):
        fails.append(f"pods refer to {k} {name}, which is not rendered")
if case == "default":
    # the gateway's registry user: REGISTRY_USER_INFO's password verifies against the bcrypt hash
    # the chart wrote into the registry's users file (libcrypt, through Python's crypt module)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    data = next(iter(by.get("Secret", {}).values()), {}).get("stringData", {})
    user, _, password = data.get("REGISTRY_USER_INFO", "").partition(":")
    lines = [l for l in data.get("REGISTRY_USERS", "").splitlines() if l.strip()]
    mine = [l.split(":", 3) for l in lines if l.startswith(user + ":")]
    if not user or not password or len(mine) != 1 or len(mine[0]) != 4:
        fails.append(f"the Secret holds no registry user line for REGISTRY_USER_INFO ({lines})")
    elif crypt.crypt(password, mine[0][1]) != mine[0][1] or mine[0][3] != "schema:read":
        fails.append("the gateway's registry password does not verify against its hash")
if case == "secreturl":
    secret = next(iter(by.get("Secret", {}).values()), {})
    if secret.get("stringData", {}).get("REDIS_URL") != "rediss://:s3cret-pw@redis.example.com:6380/0":
        fails.append("the Secret does not hold secrets.redisUrl as REDIS_URL")
    users = [n for n in deps if n.endswith(("-gateway", "-processor"))]
    if len(users) != 2:
        fails.append(f"no gateway and processor rendered ({sorted(deps)})")
    for name in users:
        env = {e["name"]: e for e in deps[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = (env.get("REDIS_URL", {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if ref.get("name") != secret.get("metadata", {}).get("name") or ref.get("key") != "REDIS_URL":
            fails.append(f"{name}: REDIS_URL does not come from the Secret ({env.get('REDIS_URL')})")
    if any("s3cret-pw" in yaml.safe_dump(d) for d in deps.values()):
        fails.append("the Redis password is in a Deployment")
if case == "production":
    for k in ("Ingress", "ServiceMonitor", "ScaledObject"):
        if not by.get(k):
            fails.append(f"production values render no {k}")
    users = [n for n in deps if n.endswith(("-gateway", "-processor"))]  # the Redis users
    if len(users) != 2:
        fails.append(f"production values render no gateway and processor ({sorted(deps)})")
    for name in users:
        c = deps[name]["spec"]["template"]["spec"]["containers"][0]
        if not any(m.get("mountPath") == "/etc/events/tls/redis" for m in c.get("volumeMounts", [])):
            fails.append(f"{name} does not mount tlsSecrets.redis at /etc/events/tls/redis")
    if by.get("Secret"):
        fails.append("with existingSecret the chart must not render a Secret")
    for name, d in deps.items():
        if d["spec"].get("replicas") is not None and any(
                h["spec"]["scaleTargetRef"]["name"] == name
                for h in list(by.get("ScaledObject", {}).values()) + list(by.get("HorizontalPodAutoscaler", {}).values())):
            fails.append(f"Deployment {name} sets replicas while autoscaled")
for f in fails:
    print(f"helm: FAIL: {case}: {f}")
print(f"helm: {case}: {len(docs)} manifests checked" if not fails else "", end="\n" if not fails else "")
sys.exit(1 if fails else 0)
PY
done
# bad values are refused by the schema
printf 'image: {repository: x, tag: ""}\ndaemons: {gateway: {port: 70000}}\ntlsSecrets: {Bad_Name: ca}\n' >"$work/bad-values.yaml"
render bad "$work/bad-values.yaml" || true
out=$("$BUILD/bin/schema-validate" --schema helm/events/values.schema.json <"$work/bad.values.json")
[[ "$out" == *"/image/tag"* ]] && [[ "$out" == *"/daemons/gateway/port"* ]] && [[ "$out" == *"/tlsSecrets"* ]] ||
    { say "FAIL: a bad image.tag, port or tlsSecrets name is not refused ($out)"; fail=1; }
# a Redis URL given twice, or not at all: refused at render, saying which values
printf 'secrets: {redisUrl: "redis://:pw@r:6379/0"}\n' >"$work/both-values.yaml"
printf 'redis: {url: ""}\n' >"$work/neither-values.yaml"
for c in both neither; do
    if render "$c" "$work/$c-values.yaml"; then
        say "FAIL: redis.url and secrets.redisUrl ($c) rendered"
        fail=1
    elif ! grep -q "secrets.redisUrl" "$work/$c.err" "$work/$c.yaml"; then
        say "FAIL: redis.url and secrets.redisUrl ($c): $(tail -c 300 "$work/$c.err" "$work/$c.yaml")"
        fail=1
    fi
done
[ $fail = 0 ] && say "ok (default, production and secret Redis URL values rendered and checked; bad values refused)"
exit $fail
