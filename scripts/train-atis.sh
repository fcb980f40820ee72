#!/usr/bin/env bash
# Fine-tunes all-MiniLM-L6-v2 as a JointBERT intent + slot model on ATIS and prints the path of
# the result (the best checkpoint on ATIS dev) as the last line. The training summary (dev and
# test metrics, hyperparameters, wall time) is the JSON line before it, and is kept in
# OUT/train_summary.json.
#   scripts/train-atis.sh                 -> .models/atis-joint-minilm
#   BERTD_DATA_DIR=... BERTD=... scripts/train-atis.sh [OUT]
# Data: the JointBERT layout of ATIS as scripts/fetch-data.sh resolves it ($BERTD_DATA_DIR/atis,
# the cache .data/atis, or a checked download), read where it is. About 17 minutes on one core
# (10 epochs; bench/train_results.md); BERTD_ATIS_EPOCHS shortens it (the demo trains 2 epochs,
# ~2.5 minutes, when no model is at hand). BERTD_THREADS sets the threads (default: bertd's,
# OPENBLAS_NUM_THREADS or every core).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BERTD="${BERTD:-$ROOT/build/cli/bertd}"
OUT="${1:-$ROOT/.models/atis-joint-minilm}"
THREADS=()
if [ -n "${BERTD_THREADS:-}" ]; then THREADS=(--threads "$BERTD_THREADS"); fi
EPOCHS="${BERTD_ATIS_EPOCHS:-10}"
if [ ! -x "$BERTD" ]; then
  echo "train-atis: $BERTD not built (cmake -S . -B build -G Ninja && cmake --build build)" >&2
  exit 2
fi
if [ -n "${BERTD_ATIS_DIR:-}" ]; then
  echo "train-atis: BERTD_ATIS_DIR is no longer read: set BERTD_DATA_DIR to the folder holding atis/" >&2
  exit 2
fi
if ! DATA="$(bash "$ROOT/scripts/fetch-data.sh" atis 2>&1)"; then
  echo "train-atis: $(printf '%s\n' "$DATA" | tail -n 1)" >&2
  exit 2
fi
DATA="$(printf '%s\n' "$DATA" | tail -n 1)"
# bertd train makes OUT but not its parent (.models/ is absent on a fresh clone whose MiniLM
# lives in BERTD_MODEL_CACHE): without this the first checkpoint fails after an epoch of work.
mkdir -p "$(dirname "$OUT")" || { echo "train-atis: cannot create $(dirname "$OUT")" >&2; exit 2; }
MODEL="$("$ROOT/scripts/fetch-model.sh" minilm | tail -n 1)"
# the hyperparameters of the measured run (bench/train_results.md, ATIS run E, the best of the
# runs on dev): batch 8, lr 1.5e-4 with 10 % linear warm-up then linear decay, 10 epochs, best
# epoch by dev mean(intent acc, slot F1) with slots decoded as served (bio). The thread count
# does not change the result beyond float rounding (each batch's sequences are split between
# threads with the one-thread gradients).
"$BERTD" train --task joint --model "$MODEL" --data "$DATA" --out "$OUT" \
  --epochs "$EPOCHS" --lr 1.5e-4 --batch-size 8 --warmup-ratio 0.1 --max-length 64 --seed 42 \
  "${THREADS[@]}"
echo "$OUT"
