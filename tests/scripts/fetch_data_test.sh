#!/usr/bin/env bash
# Tests scripts/fetch-data.sh without the network and without any real dataset: it generates a
# small copy of an upstream tree, serves it with python3's http.server on 127.0.0.1 (a free
# port), and points the script at it through BERTD_DATA_BASE_URL / BERTD_DATA_MANIFEST /
# BERTD_DATA_CACHE. Cases: good files (and the AG News header step), the cache and the mirror
# taking precedence, a checksum mismatch, a missing file, an unknown name; each failure must be
# exactly one line on stderr and leave nothing in the cache. Last, the committed manifest's form.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FETCH="$ROOT/scripts/fetch-data.sh"
T="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
expect_eq() { # what got want
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: got [$2], want [$3]"; fi
}
expect_has() { # what text needle
  if [[ "$2" == *"$3"* ]]; then pass "$1"; else fail "$1: [$2] lacks [$3]"; fi
}

# --- the served copy: owner/repo/commit/path, as raw.githubusercontent.com lays it out
C=0123456789abcdef0123456789abcdef01234567
SRV="$T/srv/o/r/$C"
mkdir -p "$SRV/data/train"
printf 'flight\natis_airfare\n' > "$SRV/data/intent_label.txt"
printf 'show me flights\nwhat fares\n' > "$SRV/data/train/seq.in"
printf '"3","Fears for T N pension","Unions, workers"\n"4","Race","A \\team"\n' > "$SRV/news.csv"
printf 'one\n' > "$SRV/a.txt"
sha() { sha256sum < "$1" | cut -d' ' -f1; }
BAD=0000000000000000000000000000000000000000000000000000000000000000
{
  echo "# set	file	sha256	source	then"
  printf 'atis\tintent_label.txt\t%s\to/r/%s/data/intent_label.txt\t-\n' "$(sha "$SRV/data/intent_label.txt")" $C
  printf 'atis\ttrain/seq.in\t%s\to/r/%s/data/train/seq.in\t-\n' "$(sha "$SRV/data/train/seq.in")" $C
  printf 'agnews\ttest.csv\t%s\to/r/%s/news.csv\theader=label,title,description\n' "$(sha "$SRV/news.csv")" $C
  # a checksum mismatch on the second of two files
  printf 'snips\ta.txt\t%s\to/r/%s/a.txt\t-\n' "$(sha "$SRV/a.txt")" $C
  printf 'snips\tintent_label.txt\t%s\to/r/%s/data/intent_label.txt\t-\n' $BAD $C
  # a file the server does not have
  printf 'loghub\ta.txt\t%s\to/r/%s/a.txt\t-\n' "$(sha "$SRV/a.txt")" $C
  printf 'loghub\tLICENSE\t%s\to/r/%s/LICENSE\t-\n' "$(sha "$SRV/a.txt")" $C
} > "$T/manifest.tsv"

(cd "$T/srv" && exec python3 -u -m http.server 0 --bind 127.0.0.1 > "$T/server.log" 2>&1) &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$T/server.log")"
  [ -n "$PORT" ] && break
  sleep 0.1
done
if [ -z "$PORT" ]; then echo "FAIL: the loopback HTTP server did not start: $(cat "$T/server.log")"; exit 1; fi
BASE="http://127.0.0.1:$PORT"
CACHE="$T/cache"

run() { # NAME [VAR=VALUE...]: runs fetch-data.sh, sets rc, out, errout
  local n="$1"; shift
  env -u BERTD_DATA_DIR BERTD_DATA_BASE_URL="$BASE" BERTD_DATA_MANIFEST="$T/manifest.tsv" \
      BERTD_DATA_CACHE="$CACHE" "$@" bash "$FETCH" "$n" > "$T/out" 2> "$T/err"
  rc=$?
  out="$(cat "$T/out")"
  errout="$(cat "$T/err")"
}
lines() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }

# --- good files: downloaded, checked, renamed into the cache; the path is the one stdout line
run atis
expect_eq "good: exit status" "$rc" 0
expect_eq "good: prints the cache folder" "$out" "$CACHE/atis"
expect_eq "good: nothing on stderr" "$errout" ""
expect_eq "good: intent_label.txt as served" "$(cat "$CACHE/atis/intent_label.txt")" \
  "$(printf 'flight\natis_airfare')"
expect_eq "good: train/seq.in as served" "$(cat "$CACHE/atis/train/seq.in")" \
  "$(printf 'show me flights\nwhat fares')"
expect_eq "good: exactly the manifest's files" "$(cd "$CACHE/atis" && find . -type f | sort | tr '\n' ' ')" \
  "./intent_label.txt ./train/seq.in "
expect_eq "good: no temporary folder left" "$(find "$CACHE" -maxdepth 1 -name '.*' ! -name . | wc -l)" 0

# --- the header step: the upstream bytes, checked, then the header row in front
run agnews
expect_eq "header: exit status" "$rc" 0
expect_eq "header: the file" "$(cat "$CACHE/agnews/test.csv")" \
  "$(printf 'label,title,description\n"3","Fears for T N pension","Unions, workers"\n"4","Race","A \\team"')"

# --- the cache answers without the network (a closed port)
run atis BERTD_DATA_BASE_URL=http://127.0.0.1:1
expect_eq "cache: exit status" "$rc" 0
expect_eq "cache: prints the cache folder" "$out" "$CACHE/atis"

# --- a mirror comes first
mkdir -p "$T/mirror/atis"
run atis BERTD_DATA_DIR="$T/mirror"
expect_eq "mirror: exit status" "$rc" 0
expect_eq "mirror: prints the mirror's folder" "$out" "$T/mirror/atis"

# --- a checksum mismatch: exit 1, one line naming the URL and both sums, nothing kept
run snips
got="$(sha "$SRV/data/intent_label.txt")"
expect_eq "mismatch: exit status" "$rc" 1
expect_eq "mismatch: nothing on stdout" "$out" ""
expect_eq "mismatch: one line on stderr" "$(lines "$errout")" 1
expect_has "mismatch: names the URL and the sums" "$errout" \
  "$BASE/o/r/$C/data/intent_label.txt has sha256 $got, the manifest expects $BAD"
expect_has "mismatch: says what was tried" "$errout" \
  "tried \$BERTD_DATA_DIR/snips (BERTD_DATA_DIR unset), the cache $CACHE/snips, and the download"
expect_has "mismatch: says how to point BERTD_DATA_DIR at a copy" "$errout" \
  "set BERTD_DATA_DIR to a folder holding a copy of snips/"
expect_eq "mismatch: no cache folder" "$(test -e "$CACHE/snips" && echo yes || echo no)" no
expect_eq "mismatch: no temporary folder left" "$(find "$CACHE" -maxdepth 1 -name '.*' ! -name . | wc -l)" 0

# --- a missing file: exit 1, one line naming the URL and curl's 404, nothing kept
run loghub BERTD_DATA_DIR="$T/mirror"
expect_eq "missing: exit status" "$rc" 1
expect_eq "missing: one line on stderr" "$(lines "$errout")" 1
expect_has "missing: names the URL and the HTTP status" "$errout" \
  "the download: $BASE/o/r/$C/LICENSE: curl: (22) The requested URL returned error: 404"
expect_has "missing: names the mirror it tried" "$errout" \
  "tried \$BERTD_DATA_DIR/loghub ($T/mirror/loghub: no such folder)"
expect_eq "missing: no cache folder" "$(test -e "$CACHE/loghub" && echo yes || echo no)" no
expect_eq "missing: no temporary folder left" "$(find "$CACHE" -maxdepth 1 -name '.*' ! -name . | wc -l)" 0

# --- an unknown name
run imdb
expect_eq "unknown: exit status" "$rc" 2
expect_eq "unknown: the line" "$errout" "fetch-data: unknown dataset 'imdb' (known: atis snips agnews loghub)"

# --- the committed manifest: its form, pinned sources, and the file count of every set
M="$ROOT/scripts/data-manifest.tsv"
# (no {n} intervals: mawk has none)
bad="$(awk -F'\t' '!/^#/ { n = split($4, p, "/")
        if (!(NF == 5 && $1 ~ /^(atis|snips|agnews|loghub)$/ && length($3) == 64 && $3 !~ /[^0-9a-f]/ &&
              n >= 4 && p[1] != "" && p[2] != "" && length(p[3]) == 40 && p[3] !~ /[^0-9a-f]/ &&
              ($5 == "-" || $5 ~ /^header=/))) print NR": "$0 }' "$M")"
expect_eq "manifest: every line is set, file, sha256, pinned source, step" "$bad" ""
expect_eq "manifest: no file twice" "$(awk -F'\t' '!/^#/ {print $1"/"$2}' "$M" | sort | uniq -d)" ""
expect_eq "manifest: files per set" \
  "$(awk -F'\t' '!/^#/ {n[$1]++} END {printf "%d %d %d %d", n["atis"], n["snips"], n["agnews"], n["loghub"]}' "$M")" \
  "11 11 1 33"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
