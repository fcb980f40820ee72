#!/usr/bin/env bash
# Creates the reference environment (Hugging Face transformers on CPU) used only to regenerate
# golden fixtures and to run the peers in bench/. CI never runs this.
# torch comes from Debian's python3-torch (CPU-only); transformers is pinned to a release that
# still supports that torch.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${BERTD_REF_VENV:-$ROOT/.venv-ref}"
if ! dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed"; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/pip" install -q -r "$ROOT/tools/reference/requirements.txt"
echo "$VENV/bin/python"
