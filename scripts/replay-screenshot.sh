#!/usr/bin/env bash
# A PNG of a `bertd replay --report-html` report, taken by headless Chromium (Debian's
# `chromium`, which scripts/install-deps.sh installs), for the README.
#   scripts/replay-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: replay-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]" >&2; exit 2; }
html="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
size="${3:-1100x2000}"
[ -f "$html" ] || { echo "replay-screenshot.sh: $1: no such file" >&2; exit 2; }
exe="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$exe" ] || { echo "replay-screenshot.sh: no chromium: run scripts/install-deps.sh" >&2; exit 2; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$exe" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="${size/x/,}" --screenshot="$(realpath -m "$out")" "file://$html" 2>/dev/null
[ -s "$out" ] || { echo "replay-screenshot.sh: chromium wrote no $out" >&2; exit 1; }
echo "$out"
