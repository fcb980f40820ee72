#!/usr/bin/env bash
# The test command (README: `bash scripts/test.sh`; CI runs exactly this through .ci/run).
# Installs what it needs, fetches the real MiniLM checkpoint, builds, runs the unit, parity and
# kafka tests, then rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit
# and parity tests again, then a bounded run of the `slow` label (fuzzers for a few seconds each).
# BERTD_TEST_LABELS overrides the label set of the first run (a ctest -L regex).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

bash scripts/install-deps.sh
BERTD_MODEL_DIR="$(bash scripts/fetch-model.sh minilm | tail -1)"
export BERTD_MODEL_DIR
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-2}"
LABELS="${BERTD_TEST_LABELS:-unit|parity|kafka}"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
(cd build && ctest --output-on-failure -L "$LABELS")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBERTD_SANITIZE=ON >/dev/null
cmake --build build-asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -L 'unit|parity')

if [ -d tests/fuzz ]; then
  echo "== bounded fuzzing (label slow) =="
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DBERTD_FUZZ=ON -DBERTD_TESTS=ON >/dev/null
  cmake --build build-fuzz
  (cd build-fuzz && BERTD_FUZZ_SECONDS="${BERTD_FUZZ_SECONDS:-30}" ctest --output-on-failure -L slow)
fi
