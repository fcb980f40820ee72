#!/usr/bin/env bash
# Resolves a public dataset and prints its directory as the last line.
#   scripts/fetch-data.sh NAME        NAME: atis | snips | agnews | loghub
# Order:
#   1. $BERTD_DATA_DIR/NAME           a local mirror (a folder holding atis/, snips/, ...)
#   2. .data/NAME                     the cache (git-ignored), filled by 3
#   3. a download of every file scripts/data-manifest.tsv lists for NAME, from the set's original
#      public home pinned to a commit, each file's sha256 checked against the manifest. Files go
#      to a temporary folder beside the cache and are renamed into .data/NAME only when all of
#      them are verified, so .data/NAME is complete or absent.
# On failure: exit 1 and one line on stderr naming what was tried and how to point BERTD_DATA_DIR
# at a copy (exit 2 for an unknown NAME).
# bertd never ships these files: they are their authors' (README.md, "Data").
# Overrides (the tests use them to serve a generated copy on loopback):
#   BERTD_DATA_BASE_URL  where manifest sources live (default https://raw.githubusercontent.com)
#   BERTD_DATA_MANIFEST  the manifest (default scripts/data-manifest.tsv)
#   BERTD_DATA_CACHE     the cache folder (default .data in the checkout)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BASE="${BERTD_DATA_BASE_URL:-https://raw.githubusercontent.com}"
BASE="${BASE%/}"
MANIFEST="${BERTD_DATA_MANIFEST:-$ROOT/scripts/data-manifest.tsv}"
CACHE="${BERTD_DATA_CACHE:-$ROOT/.data}"
name="${1:-}"
case "$name" in
  atis|snips|agnews|loghub) ;;
  *) echo "fetch-data: unknown dataset '${name}' (known: atis snips agnews loghub)" >&2; exit 2 ;;
esac

if [ -n "${BERTD_DATA_DIR:-}" ]; then
  tried_mirror="\$BERTD_DATA_DIR/$name ($BERTD_DATA_DIR/$name: no such folder)"
  if [ -d "$BERTD_DATA_DIR/$name" ]; then
    (cd "$BERTD_DATA_DIR/$name" && pwd); exit 0
  fi
else
  tried_mirror="\$BERTD_DATA_DIR/$name (BERTD_DATA_DIR unset)"
fi
if [ -d "$CACHE/$name" ]; then (cd "$CACHE/$name" && pwd); exit 0; fi

# Every failure below ends here: one line, what was tried, and the way out.
fail() {
  echo "fetch-data: dataset '$name' not available: tried $tried_mirror, the cache $CACHE/$name," \
       "and the download: $1; with no network, set BERTD_DATA_DIR to a folder holding a copy of" \
       "$name/ (its files as scripts/data-manifest.tsv lists them)" >&2
  exit 1
}

[ -r "$MANIFEST" ] || fail "no manifest at $MANIFEST"
command -v curl >/dev/null || fail "curl is not installed"
command -v sha256sum >/dev/null || fail "sha256sum is not installed"
rows="$(awk -F'\t' -v n="$name" '$0 !~ /^#/ && $1 == n' "$MANIFEST")"
[ -n "$rows" ] || fail "$MANIFEST lists no file for '$name'"

mkdir -p "$CACHE" 2>/dev/null || fail "cannot create the cache folder $CACHE"
TMP="$(mktemp -d "$CACHE/.$name.XXXXXX" 2>/dev/null)" || fail "cannot write in $CACHE"
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
if [ -t 2 ]; then
  echo "fetch-data: downloading '$name' from $BASE (checked against the manifest)" >&2
fi

lineno=0
while IFS=$'\t' read -r _set file sum src then extra; do
  lineno=$((lineno + 1))
  if [ -z "$src" ] || [ -n "${extra:-}" ] || [[ ! "$sum" =~ ^[0-9a-f]{64}$ ]] ||
     [[ "$file" == /* || "$file" == *..* ]]; then
    fail "$MANIFEST: the line for '$name' number $lineno is not 'set<TAB>file<TAB>sha256<TAB>source<TAB>then'"
  fi
  url="$BASE/$src"
  mkdir -p "$TMP/$(dirname "$file")"
  if ! err="$(curl -fsS -L --connect-timeout 15 --max-time 300 --retry 2 --retry-delay 2 \
                   -o "$TMP/$file" "$url" 2>&1)"; then
    fail "$url: $(printf '%s\n' "$err" | grep -v '^$' | tail -n 1)"
  fi
  got="$(sha256sum < "$TMP/$file" | cut -d' ' -f1)"
  if [ "$got" != "$sum" ]; then
    fail "$url has sha256 $got, the manifest expects $sum (changed or damaged upstream; not kept)"
  fi
  case "$then" in
    -) ;;
    header=*)
      { printf '%s\n' "${then#header=}"; cat "$TMP/$file"; } > "$TMP/$file.tmp"
      mv "$TMP/$file.tmp" "$TMP/$file" ;;
    *) fail "$MANIFEST: unknown step '$then' for $name/$file" ;;
  esac
done <<< "$rows"

# Another run may have finished first (mv -T then fails): its verified copy is as good as ours.
if mv -T "$TMP" "$CACHE/$name" 2>/dev/null || [ -d "$CACHE/$name" ]; then
  (cd "$CACHE/$name" && pwd)
  exit 0
fi
fail "could not rename the verified copy into $CACHE/$name"
