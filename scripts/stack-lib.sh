# stack-lib.sh: start and stop the local stack's processes; sourced by scripts/stack.sh
# (`make run`), tests/integration and tests/e2e. Every process is started on 127.0.0.1, writes
# its log to $STACK_DIR/logs/<name>.log and its pid to $STACK_DIR/pids/<name>.pid, so
# stack_stop_all can stop everything (gracefully, then by force) even after a failure.
#
# Inputs (environment): STACK_DIR (scratch directory, required), BUILD_DIR (where bin/ is),
# NPM_PREFIX (where s3rver is installed), and the ports: REDIS_PORT, PG_PORT, S3_PORT,
# GATEWAY_PORT, REGISTRY_PORT, PROCESSOR_PORT, RULES_PORT, STORE_PORT, OUTPUT_PORT.

S3RVER_VERSION=3.7.1
STACK_SERVICES=(registry gateway processor rules store output)

stack_log() {
    printf '%s stack: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

# Prints a free TCP port on 127.0.0.1 (nothing listens there now, not handed out before in this
# stack, whose ports are chosen before anything binds them, nor reserved by another).
stack_free_port() {
    local port given
    given=$(cat "${STACK_DIR:-/tmp}/.ports" 2>/dev/null)
    # Stay out of the kernel's ephemeral range: outgoing connections (and the development broker,
    # which binds port 0) take ports from it, and could take ours before we bind them.
    local lo=32768 hi=60999 base span
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if ((lo > 12000)); then
        base=10000 span=$((lo - 10000))
    else
        base=$((hi + 1)) span=$((65535 - hi))
    fi
    while :; do
        port=$((base + RANDOM % span))
        case " $given " in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && stack_port_reserve "$port"; then
            [ -n "${STACK_DIR:-}" ] && [ -d "$STACK_DIR" ] && echo -n " $port" >>"$STACK_DIR/.ports"
            echo "$port"
            return
        fi
    done
}

# Reserves port $1 across the processes of the machine for 15 minutes (fails if another holds it):
# tests run in parallel, each picks its ports before it starts what binds them, and a port free
# when one looked could otherwise be handed to another before the first bound it. A
# reservation is a directory per port under /tmp/cm-ports, made atomically (the C tests'
# harness keeps the same ones); one older than 15 minutes may be taken again.
stack_port_reserve() {
    local d=/tmp/cm-ports/$1 made
    mkdir /tmp/cm-ports 2>/dev/null && chmod 1777 /tmp/cm-ports
    mkdir "$d" 2>/dev/null && return 0
    [ -d "$d" ] || return 0 # no reservations here (not writable, say): the port as it is
    made=$(stat -c %Y "$d" 2>/dev/null) || return 1
    (($(date +%s) - made >= 900)) || return 1
    # a stale one: taken again, or, another user's (not ours to remove), used as it is
    rmdir "$d" 2>/dev/null || [ ! -d "$d" ] || return 0
    mkdir "$d" 2>/dev/null
}

# Waits until something accepts connections on 127.0.0.1:$1, for at most $2 seconds.
stack_wait_port() {
    local port=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

stack_init() {
    : "${STACK_DIR:?STACK_DIR must be set}"
    mkdir -p "$STACK_DIR/logs" "$STACK_DIR/pids"
    STACK_DIR=$(cd "$STACK_DIR" && pwd)
}

# Runs "$@" in the background as process $name in a session of its own (so a Ctrl-C on the
# terminal reaches only the runner, which then stops everything in order); records its pid.
# setsid execs without forking here (a background job is not a group leader), so $! is the
# program's pid.
stack_spawn() {
    local name=$1
    shift
    setsid "$@" >>"$STACK_DIR/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$STACK_DIR/pids/$name.pid"
}

stack_pid() {
    cat "$STACK_DIR/pids/$1.pid" 2>/dev/null
}

stack_alive() {
    local pid
    pid=$(stack_pid "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

stack_fail() {
    local pid status
    pid=$(stack_pid "$1")
    status=
    if [ -n "$pid" ] && ! stack_running "$pid"; then
        wait "$pid" 2>/dev/null
        status=" (exit status $?)"
    fi
    stack_log "$1 failed to start$status; the end of its log ($STACK_DIR/logs/$1.log, $(wc -c <"$STACK_DIR/logs/$1.log" 2>/dev/null || echo 0) bytes):"
    tail -n 30 "$STACK_DIR/logs/$1.log" >&2 || true
    return 1
}

stack_start_redis() {
    mkdir -p "$STACK_DIR/redis"
    stack_spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STACK_DIR/redis" \
        --save "" --appendonly yes --appendfsync everysec --daemonize no --protected-mode yes
    stack_wait_port "$REDIS_PORT" 20 || stack_fail redis
}

# A Redis Cluster of three nodes on free loopback ports, for the integration tests (the daemons'
# state lives on a cluster as on one server); exports REDIS_CLUSTER_URL (its first node) and
# REDIS_CLUSTER_PORTS. Each node's cluster bus gets a free port of its own too.
stack_start_redis_cluster() {
    local i port bus ports=() deadline
    for i in 1 2 3; do
        port=$(stack_free_port)
        bus=$(stack_free_port)
        mkdir -p "$STACK_DIR/redis-c$i"
        stack_spawn "redis-c$i" redis-server --bind 127.0.0.1 --port "$port" --cluster-port "$bus" \
            --dir "$STACK_DIR/redis-c$i" --cluster-enabled yes --cluster-config-file nodes.conf \
            --save "" --appendonly no --daemonize no --protected-mode yes
        ports+=("$port")
    done
    for i in 1 2 3; do
        stack_wait_port "${ports[$((i - 1))]}" 20 || { stack_fail "redis-c$i"; return 1; }
    done
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 \
        --cluster-yes >"$STACK_DIR/logs/redis-cluster.log" 2>&1 || { stack_fail redis-cluster; return 1; }
    deadline=$((SECONDS + 20))
    for port in "${ports[@]}"; do # every node knows every slot's node
        until redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
            ((SECONDS < deadline)) || { stack_log "the Redis Cluster did not form"; return 1; }
            sleep 0.1
        done
    done
    export REDIS_CLUSTER_URL="redis://127.0.0.1:${ports[0]}" REDIS_CLUSTER_PORTS="${ports[*]}"
}

stack_pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || { stack_log "PostgreSQL server binaries not found (make deps)"; return 1; }
    echo "$dir"
}

# The command prefix that runs a program as the postgres user when we are root (PostgreSQL
# refuses to run as root); setpriv execs, so the pid stays the server's.
stack_as_pg_prefix() {
    if [ "$(id -u)" -eq 0 ]; then
        STACK_AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    else
        STACK_AS_PG=()
    fi
}

stack_start_pg() {
    local bin data
    bin=$(stack_pg_bin) || return 1
    stack_as_pg_prefix
    data="$STACK_DIR/pg"
    if [ -L "$data" ] && [ -d "$(readlink "$data")" ]; then
        data=$(readlink "$data") # started before (a restart): the same cluster
    elif [ "$(id -u)" -eq 0 ] && ! setpriv --reuid=postgres --regid=postgres --init-groups -- \
        test -x "$STACK_DIR"; then
        # The postgres user cannot reach $STACK_DIR (e.g. under /root): keep the cluster in /tmp.
        local alt
        alt=$(mktemp -d /tmp/eventstack-pg.XXXXXX)
        chown postgres: "$alt"
        ln -sfn "$alt" "$data"
        data="$alt"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        mkdir -p "$data"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
        chmod 700 "$data"
        # from / : the postgres user may not be allowed into the current directory
        (cd / && "${STACK_AS_PG[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >>"$STACK_DIR/logs/postgres.log" 2>&1) || stack_fail postgres || return 1
    fi
    local extra=()
    if [ "${STACK_FAST:-0}" = 1 ]; then
        extra=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi
    stack_spawn postgres "${STACK_AS_PG[@]}" "$bin/postgres" -D "$data" -p "$PG_PORT" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200 \
        "${extra[@]}"
    local deadline=$((SECONDS + 30))
    until psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc 'SELECT 1' >/dev/null 2>&1; do
        if ((SECONDS >= deadline)) || ! stack_alive postgres; then
            stack_fail postgres
            return 1
        fi
        sleep 0.2
    done
    if [ "$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc \
        "SELECT 1 FROM pg_database WHERE datname = 'events'")" != 1 ]; then
        psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE events' >/dev/null
    fi
}

stack_start_kafka() {
    rm -f "$STACK_DIR/kafka.bootstrap"
    stack_spawn devkafka env DEVKAFKA_BOOTSTRAP_FILE="$STACK_DIR/kafka.bootstrap" \
        DEVKAFKA_PARTITIONS="${DEVKAFKA_PARTITIONS:-16}" "$BUILD_DIR/bin/devkafka"
    local deadline=$((SECONDS + 20))
    until [ -s "$STACK_DIR/kafka.bootstrap" ]; do
        if ((SECONDS >= deadline)) || ! stack_alive devkafka; then
            stack_fail devkafka
            return 1
        fi
        sleep 0.1
    done
    KAFKA_BROKERS=$(cat "$STACK_DIR/kafka.bootstrap")
    export KAFKA_BROKERS
}

# Installs s3rver from the npm registry into $NPM_PREFIX once.
stack_install_s3rver() {
    local main="$NPM_PREFIX/node_modules/s3rver/bin/s3rver.js"
    if [ -f "$main" ]; then
        return 0
    fi
    stack_log "installing s3rver@$S3RVER_VERSION from the npm registry into $NPM_PREFIX"
    stack_npm_client "$NPM_PREFIX" "s3rver@$S3RVER_VERSION"
}

stack_start_s3() {
    stack_install_s3rver || return 1
    mkdir -p "$STACK_DIR/s3"
    stack_spawn s3rver node "$NPM_PREFIX/node_modules/s3rver/bin/s3rver.js" -d "$STACK_DIR/s3" \
        -a 127.0.0.1 -p "$S3_PORT" --configure-bucket "$S3_BUCKET" --silent
    stack_wait_port "$S3_PORT" 30 || stack_fail s3rver
}

# Sets and exports the addresses every daemon and client uses.
stack_export_env() {
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/events?connect_timeout=5"
    export S3_ENDPOINT="http://127.0.0.1:$S3_PORT" S3_BUCKET S3_REGION="${S3_REGION:-us-east-1}"
    export S3_ACCESS_KEY_ID="${S3_ACCESS_KEY_ID:-S3RVER}" S3_SECRET_ACCESS_KEY="${S3_SECRET_ACCESS_KEY:-S3RVER}"
    export REGISTRY_URL="http://127.0.0.1:$REGISTRY_PORT"
    GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
    export GATEWAY_PORT REGISTRY_PORT PROCESSOR_PORT RULES_PORT STORE_PORT OUTPUT_PORT
    # The development client profile for librdkafka's mock cluster (ARCHITECTURE.md).
    export KAFKA_FETCH_WAIT_MAX_MS="${KAFKA_FETCH_WAIT_MAX_MS:-10}"
    export KAFKA_SESSION_TIMEOUT_MS="${KAFKA_SESSION_TIMEOUT_MS:-6000}"
    export KAFKA_HEARTBEAT_INTERVAL_MS="${KAFKA_HEARTBEAT_INTERVAL_MS:-500}"
    export BIND_ADDR=127.0.0.1
    stack_registry_user
}

# Installs an npm package (name@version) into prefix $1 once, for the tests' outside clients.
# Tests run two at a time and share the prefix: two npm installs into one prefix at once each
# rewrite its package.json and prune what the other added (a fresh clone's CI failed both
# clients' tests this way), so the install holds a lock on the prefix and looks again under it.
stack_npm_client() {
    local prefix=$1 package=$2
    [ -d "$prefix/node_modules/${package%@*}" ] && return 0
    mkdir -p "$prefix"
    (
        flock 9 || exit 1
        [ -d "$prefix/node_modules/${package%@*}" ] && exit 0
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "$package" </dev/null >&2
    ) 9>"$prefix/.install.lock"
}

# The registry's development user: a random password kept in $STACK_DIR, its hash (OpenSSL's
# SHA-512 crypt) in $STACK_DIR/registry-users with every schema scope, and the pair in
# REGISTRY_USER_INFO for the gateway and for clients (curl -u "$REGISTRY_USER_INFO").
stack_registry_user() {
    local pw
    if [ ! -s "$STACK_DIR/registry-password" ]; then
        (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STACK_DIR/registry-password")
    fi
    pw=$(cat "$STACK_DIR/registry-password")
    (umask 077 && {
        echo "# name:hash:tenant:scopes (written by scripts/stack-lib.sh for the local stack)"
        echo "dev:$(openssl passwd -6 "$pw")::schema:read schema:write schema:admin"
    } >"$STACK_DIR/registry-users")
    export REGISTRY_BASIC_AUTH_FILE="$STACK_DIR/registry-users" REGISTRY_USER_INFO="dev:$pw"
}

# Writes shell-sourceable KEY=VALUE lines for every address the stack set.
stack_write_env() {
    local f="$STACK_DIR/env"
    {
        for v in KAFKA_BROKERS REDIS_URL DATABASE_URL S3_ENDPOINT S3_BUCKET S3_REGION \
            S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY REGISTRY_URL GATEWAY_URL GATEWAY_PORT \
            REGISTRY_PORT PROCESSOR_PORT RULES_PORT STORE_PORT OUTPUT_PORT REDIS_PORT PG_PORT \
            S3_PORT JWT_HS256_SECRET REGISTRY_USER_INFO; do
            printf 'export %s=%q\n' "$v" "${!v}"
        done
        printf 'export PGHOST=127.0.0.1 PGPORT=%s PGUSER=postgres PGDATABASE=events\n' "$PG_PORT"
    } >"$f"
}

stack_start_infra() {
    stack_start_redis && stack_start_pg && stack_start_kafka && stack_start_s3 && stack_export_env
}

stack_start_services() {
    local svc
    for svc in "${STACK_SERVICES[@]}"; do
        stack_spawn "$svc" "$BUILD_DIR/bin/$svc"
    done
}

# Waits until every service's /readyz answers 200, for at most $1 seconds.
stack_wait_ready() {
    local deadline=$((SECONDS + $1)) svc port var pending
    while :; do
        pending=()
        for svc in "${STACK_SERVICES[@]}"; do
            var="${svc^^}_PORT"
            port=${!var}
            if ! stack_alive "$svc"; then
                stack_fail "$svc"
                return 1
            fi
            if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" != 200 ]; then
                pending+=("$svc")
            fi
        done
        [ ${#pending[@]} -eq 0 ] && return 0
        if ((SECONDS >= deadline)); then
            stack_log "not ready after $1 s: ${pending[*]}"
            for svc in "${pending[@]}"; do
                var="${svc^^}_PORT"
                curl -s "http://127.0.0.1:${!var}/readyz" >&2
                echo >&2
            done
            return 1
        fi
        sleep 0.2
    done
}

# True while process $1 exists and is not a zombie.
stack_running() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}

# Stops process $1 with signal $2 (default TERM), then KILL after $3 seconds (default 15).
# Sets STACK_STATUS to its exit status when it was our child, else 0.
stack_stop_one() {
    local name=$1 sig=${2:-TERM} grace=${3:-15} pid
    STACK_STATUS=0
    pid=$(stack_pid "$name") || return 0
    [ -n "$pid" ] || return 0
    if stack_running "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        local started=$SECONDS deadline=$((SECONDS + grace))
        while stack_running "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if ((SECONDS - started >= 5)); then
            stack_log "$name took $((SECONDS - started)) s to stop"
        fi
        if stack_running "$pid"; then
            stack_log "$name did not stop within $grace s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null
    STACK_STATUS=$?
    [ "$STACK_STATUS" = 127 ] && STACK_STATUS=0 # not our child: no status to report
    rm -f "$STACK_DIR/pids/$name.pid"
}

# Stops the services first (they flush and commit), then the infrastructure. Returns nonzero when
# a service exited with a nonzero status (e.g. a sanitizer report); names it.
stack_stop_all() {
    local rc=0 svc
    for svc in "${STACK_SERVICES[@]}"; do
        stack_stop_one "$svc" TERM 20
        if [ "$STACK_STATUS" != 0 ]; then
            stack_log "$svc exited with status $STACK_STATUS (see $STACK_DIR/logs/$svc.log)"
            rc=1
        fi
    done
    stack_stop_one s3rver TERM 10
    stack_stop_one devkafka TERM 10
    stack_stop_one redis TERM 10
    stack_stop_one redis-c1 TERM 10
    stack_stop_one redis-c2 TERM 10
    stack_stop_one redis-c3 TERM 10
    stack_stop_one postgres INT 20
    if [ -L "$STACK_DIR/pg" ]; then
        rm -rf "$(readlink "$STACK_DIR/pg")"
        rm -f "$STACK_DIR/pg"
    fi
    return $rc
}
