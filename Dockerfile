# Dockerfile: one image holding the six daemons (gateway, registry, processor, rules, store,
# output) and the tools (devtoken, pipeline-run, expr-eval, schema-validate); the container's
# command chooses the daemon (`command: ["processor"]`). Multi-stage: the build stage compiles
# with Debian bookworm's -dev packages, the runtime stage is bookworm-slim with only the shared
# libraries the binaries link (apt resolves theirs), curl for the health check, and a non-root
# user. Every daemon is configured by environment variables (README.md's table; `<daemon>
# --help` prints its own).
FROM debian:bookworm AS build
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends gcc make pkg-config libc6-dev \
      librdkafka-dev libmicrohttpd-dev libhiredis-dev libpq-dev libjansson-dev libjwt-dev \
      libavro-dev libcurl4-openssl-dev libwslay-dev libpcre2-dev libssl-dev zlib1g-dev \
      libjemalloc-dev libcrypt-dev python3 python3-jsonschema \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY scripts/gen-metaschemas.sh ./scripts/
COPY common ./common
COPY services ./services
COPY tools ./tools
RUN make -j"$(nproc)" all

FROM debian:bookworm-slim
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends librdkafka1 libmicrohttpd12 libhiredis0.14 \
      libpq5 libjansson4 libjwt0 libavro23 libcurl4 libwslay1 libpcre2-8-0 libssl3 zlib1g \
      libjemalloc2 libcrypt1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin events
COPY --from=build /src/build/bin/ /usr/local/bin/
COPY config/ /etc/events/
USER 10001:10001
# The port of the daemon the container runs; compose and the chart set it per daemon.
ENV HEALTH_PORT=8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${HEALTH_PORT}/livez" >/dev/null || exit 1
CMD ["gateway"]
