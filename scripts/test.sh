#!/usr/bin/env bash
# The test command (README: `bash scripts/test.sh`; CI runs exactly this through .ci/run).
# Phases, each run whatever an earlier one gave, each reported at the end (passed, failed, or
# skipped with why); the exit status is non-zero when any phase failed:
#   dependencies   scripts/install-deps.sh, then the real MiniLM checkpoint (scripts/fetch-model.sh)
#   stand-alone    no tracked file but .ci/run names the data folder beside our CI checkout
#                  (a clone must work with nothing beside it: data come from scripts/fetch-data.sh)
#   build          RelWithDebInfo in build/
#   tests          ctest labels unit|parity|kafka|data; a `data` test whose public datasets cannot
#                  be resolved (BERTD_DATA_DIR, the cache .data/, or a checked download) is listed
#                  as skipped with the reason, never as passed
#   sanitizers     AddressSanitizer + UndefinedBehaviorSanitizer build, unit and parity tests again
#   fuzzing        each libFuzzer harness for a bounded time (label slow; BERTD_FUZZ_SECONDS)
# BERTD_TEST_LABELS overrides the label set of the tests phase (a ctest -L regex).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
LABELS="${BERTD_TEST_LABELS:-unit|parity|kafka|data}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-2}"

PHASES=()
RESULTS=()
record() { PHASES+=("$1"); RESULTS+=("$2"); echo "-- $1: $2"; }
banner() { echo; echo "== $*"; }

# Prints "NAME: REASON" for every test ctest skipped in its last run in build dir $1 (the reason
# is the test's own "skipped: ..." line, which tests/data_gate.sh writes).
skipped_tests() {
  local log="$1/Testing/Temporary/LastTest.log" out="$2"
  grep -E '\*\*\*Skipped|\(Skipped\)' "$out" >/dev/null 2>&1 || return 0
  sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$out" | while read -r t; do
    reason="$(awk -v t="$t" '$0 ~ /^[0-9]+\/[0-9]+ Testing: / { cur = substr($0, index($0, ": ") + 2) }
                             cur == t && /^skipped:/ { sub(/^skipped: */, ""); print; exit }' "$log" 2>/dev/null)"
    echo "  $t: ${reason:-skipped (no reason printed)}"
  done
}

banner "dependencies"
if bash scripts/install-deps.sh; then
  if BERTD_MODEL_DIR="$(bash scripts/fetch-model.sh minilm | tail -n 1)" && [ -n "$BERTD_MODEL_DIR" ]; then
    export BERTD_MODEL_DIR
    record "dependencies" "passed"
  else
    record "dependencies" "failed (scripts/fetch-model.sh minilm)"
  fi
else
  record "dependencies" "failed (scripts/install-deps.sh)"
fi
echo "datasets: BERTD_DATA_DIR=${BERTD_DATA_DIR:-(unset)}; otherwise the cache .data/ or a checked download"

banner "stand-alone: no tracked file but .ci/run names the data folder beside the checkout"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # (the patterns are written so that this file does not match them)
  named="$(git grep -l -e '\.\./shared' -e '"\.\.", *"shared"' -- . ':(exclude).ci/run' || true)"
  if [ -z "$named" ]; then
    record "stand-alone" "passed"
  else
    git grep -n -e '\.\./shared' -e '"\.\.", *"shared"' -- . ':(exclude).ci/run'
    record "stand-alone" "failed (these tracked files name it: $(printf '%s\n' "$named" | paste -sd' '); read data with scripts/fetch-data.sh / BERTD_DATA_DIR)"
  fi
else
  record "stand-alone" "skipped (not a git checkout)"
fi

banner "build"
built=""
if cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build build; then
  built=1
  record "build" "passed"
else
  record "build" "failed"
fi

banner "tests: ctest -L '$LABELS'"
if [ -n "$built" ]; then
  (cd build && ctest --output-on-failure -L "$LABELS") 2>&1 | tee build/ctest-tests.out
  rc=${PIPESTATUS[0]}
  skipped="$(skipped_tests build build/ctest-tests.out)"
  if [ -n "$skipped" ]; then
    echo "skipped (their datasets could not be resolved; set BERTD_DATA_DIR to a folder holding them):"
    echo "$skipped"
  fi
  nskip=0; [ -n "$skipped" ] && nskip=$(printf '%s\n' "$skipped" | wc -l)
  if [ "$rc" -eq 0 ]; then record "tests" "passed ($nskip skipped)"; else record "tests" "failed"; fi
else
  record "tests" "failed (not run: the build failed)"
fi

banner "sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer, unit and parity"
if cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBERTD_SANITIZE=ON >/dev/null &&
   cmake --build build-asan; then
  if (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -L 'unit|parity'); then
    record "sanitizers" "passed"
  else
    record "sanitizers" "failed"
  fi
else
  record "sanitizers" "failed (the sanitizer build failed)"
fi

banner "fuzzing: label slow, ${BERTD_FUZZ_SECONDS:-30} s a harness"
if [ -d tests/fuzz ]; then
  if cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DBERTD_FUZZ=ON -DBERTD_TESTS=ON >/dev/null &&
     cmake --build build-fuzz; then
    if (cd build-fuzz && BERTD_FUZZ_SECONDS="${BERTD_FUZZ_SECONDS:-30}" ctest --output-on-failure -L slow); then
      record "fuzzing" "passed"
    else
      record "fuzzing" "failed"
    fi
  else
    record "fuzzing" "failed (the fuzzing build failed)"
  fi
else
  record "fuzzing" "skipped (no tests/fuzz)"
fi

echo
echo "== summary"
status=0
for i in "${!PHASES[@]}"; do
  printf '  %-13s %s\n' "${PHASES[$i]}:" "${RESULTS[$i]}"
  case "${RESULTS[$i]}" in failed*) status=1 ;; esac
done
if [ "$status" -ne 0 ]; then echo "FAILED: see the phases above"; else echo "all phases passed"; fi
exit "$status"
