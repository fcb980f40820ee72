#!/usr/bin/env bash
# The encoder benchmark in one command: bertd against ONNX Runtime, OpenVINO and PyTorch on the
# same machine, in the same run, same shapes, inputs and thread count, fp32 (bench/peers.py).
#
#   bash bench/run.sh [--quick] [--json [FILE]] [--threads N] [--repeats R] [--seconds S]
#                     [--engines bertd,onnxruntime,openvino,torch]
#   bash bench/run.sh --precision [--quick] [--json FILE] [--threads N] [--repeats R] [--seconds S]
#
# --quick: MiniLM and BERT-Base, batch 1 and 8, length 16 and 64, 1 s per shape, 2 repeats.
# --json without FILE writes build-bench/encoder_results.json.
# Without: batch 1, 8, 32 x length 16, 64, 128 and a real length mix, 3 repeats.
# Sets up its own environment: Debian's python3-torch (apt-get, when missing) and a venv
# ($BERTD_BENCH_VENV, default .venv-bench in the checkout) with bench/requirements.txt;
# builds bertd (build-bench/, the project's default build type); fetches MiniLM with
# scripts/fetch-model.sh. Threads: --threads, else the online CPUs.
# --precision: bertd fp32, bf16 and int8 beside ONNX Runtime fp32 / quantize_dynamic int8 and
# OpenVINO f32 / bf16 instead (bench/run_precision.py; --quick: batch 1 and 8, length 16 and 64,
# 1 s, 2 rounds; else 3 rounds and length 128 too); a CPU without bf16 or int8 units gets that
# precision's one-line refusal and no row.
# Never run by CI: speed lives here, not in the tests.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${BERTD_BENCH_VENV:-$ROOT/.venv-bench}"
BUILD="${BERTD_BENCH_BUILD:-$ROOT/build-bench}"
args=()
pargs=()
precision=0
threads="$(nproc)"
while [ $# -gt 0 ]; do
  case "$1" in
    --precision) precision=1 ;;
    --quick) args+=(--quick); pargs+=(--rounds 2 --seconds 1 --lengths 16,64) ;;
    --json) # FILE is optional: without one, build-bench/encoder_results.json
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then json="$(realpath -m "$2")"; shift
      else json="$BUILD/encoder_results.json"; fi
      args+=(--json "$json"); pargs+=(--json-out "$json") ;;
    --threads) threads="$2"; shift ;;
    --repeats) args+=("$1" "$2"); pargs+=(--rounds "$2"); shift ;;
    --seconds) args+=("$1" "$2"); pargs+=(--seconds "$2"); shift ;;
    --engines) args+=("$1" "$2"); shift ;;
    *) echo "run.sh: unknown option '$1' (--precision, --quick, --json [FILE], --threads N, --repeats R, --seconds S, --engines LIST)" >&2; exit 2 ;;
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
"$VENV/bin/python" - <<'PY' >&2
import onnxruntime, openvino, torch, transformers
print(f"run.sh: onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}, "
      f"torch {torch.__version__}, transformers {transformers.__version__}")
PY

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DBERTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target bench_encoder >&2
MINILM="$(bash "$ROOT/scripts/fetch-model.sh" minilm | tail -1)"
echo "run.sh: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads" >&2
if [ "$precision" = 1 ]; then
  exec "$VENV/bin/python" "$ROOT/bench/run_precision.py" --bench "$BUILD/bench/bench_encoder" \
    --minilm "$MINILM" --threads "$threads" --ov-python "$VENV/bin/python" \
    --lengths 16,64,128 "${pargs[@]}"
fi
exec "$VENV/bin/python" "$ROOT/bench/peers.py" --bench "$BUILD/bench/bench_encoder" \
  --minilm "$MINILM" --threads "$threads" --workdir "$BUILD/peers" "${args[@]}"
