#!/usr/bin/env bash
# Resolves a public dataset and prints its directory as the last line.
#   scripts/fetch-data.sh NAME        NAME: atis | snips | agnews | loghub
# Order: $BERTD_DATA_DIR/NAME (a local mirror), then the cache .data/NAME.
# (The checked download from the set's original home is added next.)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:-}"
case "$name" in
  atis|snips|agnews|loghub) ;;
  *) echo "fetch-data: unknown dataset '${name}' (known: atis snips agnews loghub)" >&2; exit 2 ;;
esac
if [ -n "${BERTD_DATA_DIR:-}" ] && [ -d "$BERTD_DATA_DIR/$name" ]; then
  echo "$(cd "$BERTD_DATA_DIR/$name" && pwd)"; exit 0
fi
if [ -d "$ROOT/.data/$name" ]; then echo "$ROOT/.data/$name"; exit 0; fi
echo "fetch-data: dataset '$name' not found in \$BERTD_DATA_DIR (${BERTD_DATA_DIR:-unset}) or .data/$name; set BERTD_DATA_DIR to a folder holding $name/" >&2
exit 1
