#!/usr/bin/env bash
# try_include.sh BUILD_DIR: builds the two probe targets of tests/layers/ and checks that the one
# including a private header of another folder fails for that header, and the control builds.
set -uo pipefail
build="$1"
if ! out="$(cmake --build "$build" --target layers_public_include 2>&1)"; then
  printf '%s\n' "$out" | tail -n 20
  echo "FAIL: the control (a public header) does not build"
  exit 1
fi
if out="$(cmake --build "$build" --target layers_private_include 2>&1)"; then
  echo "FAIL: a file including model/'s private encoder.h built against the plugin library"
  exit 1
fi
if ! printf '%s\n' "$out" | grep -q "encoder.h: No such file or directory"; then
  printf '%s\n' "$out" | tail -n 20
  echo "FAIL: the private include failed, but not for encoder.h"
  exit 1
fi
echo "ok: encoder.h is not reachable from plugin/'s include path; bertd.h is"
