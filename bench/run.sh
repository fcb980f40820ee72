#!/usr/bin/env bash
# The encoder benchmark in one command: bertd against ONNX Runtime, OpenVINO and PyTorch on the
# same machine, in the same run, same shapes, inputs and thread count, in every precision the CPU
# runs: fp32, bf16, int8 (bench/peers.py).
#
#   bash bench/run.sh [--quick] [--json [FILE]] [--threads N] [--repeats R] [--seconds S]
#                     [--engines bertd,onnxruntime,openvino,torch] [--precisions fp32,bf16,int8]
#                     [--as-cpu avx2]
#
# --quick: MiniLM and BERT-Base, batch 1 and 8, length 16 and 64, 1 s per shape, 3 repeats.
# --json without FILE writes build-bench/encoder_results.json.
# Without: batch 1, 8, 32 x length 16, 64, 128 and a real length mix, 3 repeats.
# Precisions: bertd fp32/bf16/int8, ONNX Runtime fp32 and quantize_dynamic int8, OpenVINO f32,
# bf16 (where the CPU has avx512_bf16 or amx_bf16) and NNCF int8, PyTorch fp32; a CPU without
# bertd's bf16 or int8 units gets bertd's one-line refusal printed and no rows for it.
# --as-cpu avx2: this CPU narrowed to an AVX2-only one's instructions where an engine has a
# switch for it (bertd, OpenVINO, PyTorch, OpenBLAS; ONNX Runtime has none and keeps AVX-512),
# so the AVX2 kernels can be measured against peers on an AVX-512 machine (bench/peers.py).
# --precision (once a separate precision run) is kept as an alias of the default: every
# precision runs in the one command.
# Sets up its own environment: Debian's python3-torch (apt-get, when missing) and a venv
# ($BERTD_BENCH_VENV, default .venv-bench in the checkout) with bench/requirements.txt;
# builds bertd (build-bench/, the project's default build type); fetches MiniLM with
# scripts/fetch-model.sh. Threads: --threads, else the online CPUs.
# Never run by CI: speed lives here, not in the tests.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${BERTD_BENCH_VENV:-$ROOT/.venv-bench}"
BUILD="${BERTD_BENCH_BUILD:-$ROOT/build-bench}"
args=()
threads="$(nproc)"
while [ $# -gt 0 ]; do
  case "$1" in
    --precision) ;; # every precision runs by default now
    --quick) args+=(--quick) ;;
    --json) # FILE is optional: without one, build-bench/encoder_results.json
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then json="$(realpath -m "$2")"; shift
      else json="$BUILD/encoder_results.json"; fi
      args+=(--json "$json") ;;
    --threads) threads="$2"; shift ;;
    --repeats|--seconds|--engines|--precisions|--as-cpu) args+=("$1" "$2"); shift ;;
    *) echo "run.sh: unknown option '$1' (--quick, --json [FILE], --threads N, --repeats R, --seconds S, --engines LIST, --precisions LIST, --as-cpu avx2)" >&2; exit 2 ;;
  esac
  shift
done

if ! dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" ||
   ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed"; then
  echo "run.sh: installing Debian's python3-torch and python3-venv" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/bench/requirements.txt" >&2
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DBERTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target bench_encoder >&2
MINILM="$(bash "$ROOT/scripts/fetch-model.sh" minilm | tail -1)"
exec "$VENV/bin/python" "$ROOT/bench/peers.py" --bench "$BUILD/bench/bench_encoder" \
  --minilm "$MINILM" --threads "$threads" --workdir "$BUILD/peers" "${args[@]}"
