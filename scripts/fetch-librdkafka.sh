#!/usr/bin/env bash
# A librdkafka that can log in with SCRAM to a Kafka 4 broker, for bertd to run with.
#
#   scripts/fetch-librdkafka.sh          prints the directory holding librdkafka.so.1
#   LD_LIBRARY_PATH="$(scripts/fetch-librdkafka.sh | tail -1)" build/cli/bertd run -c ...
#
# Why: Debian 12's librdkafka 2.0.2 sends a SCRAM client-final message that Kafka 4 brokers
# reject (librdkafka issue 4895, fixed in 2.6.1), so every SASL_SSL + SCRAM-SHA-512 login fails
# as "invalid credentials". bertd builds against Debian's headers; librdkafka keeps its ABI
# across 2.x, so the same binary runs with a newer library found first on LD_LIBRARY_PATH.
# The newer library comes from PyPI, the one registry here that serves a built one: the
# confluent-kafka wheel bundles librdkafka (with OpenSSL and Cyrus SASL linked in). The wheel is
# pinned and checked against its sha256; only the library is kept, under
# $BERTD_LIBRDKAFKA_CACHE (default .deps/librdkafka in the checkout).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CACHE="${BERTD_LIBRDKAFKA_CACHE:-$ROOT/.deps/librdkafka}"
VERSION=2.6.1
WHEEL="confluent_kafka-$VERSION-cp311-cp311-manylinux_2_28_x86_64.whl"
SHA256=15af5ae70c9376aba62462f20dbc846364a41f6ae4071baac36a3adb44ec29bb

die() { echo "fetch-librdkafka: $*" >&2; exit 1; }

if [[ -f "$CACHE/librdkafka.so.1" && "$(cat "$CACHE/version" 2>/dev/null)" == "$VERSION" ]]; then
  echo "$CACHE"
  exit 0
fi
[[ "$(uname -m)" == x86_64 ]] || die "only x86_64 wheels are pinned here (this is $(uname -m))"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary :all: --python-version 311 \
  --platform manylinux_2_28_x86_64 -d "$tmp" "confluent-kafka==$VERSION" >&2 ||
  die "could not download confluent-kafka $VERSION from PyPI"
[[ -f "$tmp/$WHEEL" ]] || die "pip fetched $(ls "$tmp"), not $WHEEL"
echo "$SHA256  $tmp/$WHEEL" | sha256sum -c --quiet - >&2 || die "$WHEEL: sha256 mismatch"
python3 -m zipfile -e "$tmp/$WHEEL" "$tmp/x" >&2
lib="$(ls "$tmp"/x/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -1)"
[[ -n "$lib" ]] || die "$WHEEL holds no librdkafka"
mkdir -p "$CACHE"
cp "$lib" "$CACHE/librdkafka.so.1.new"
mv "$CACHE/librdkafka.so.1.new" "$CACHE/librdkafka.so.1"
echo "$VERSION" > "$CACHE/version"
echo "fetch-librdkafka: librdkafka $VERSION from $WHEEL" >&2
echo "$CACHE"
