#!/usr/bin/env bash
# The Dockerfile, built and run with buildah (Debian's package), then bertd's pipeline run in the
# image against a real broker:
#
#   tests/container/container_test.sh --build BUILD_DIR
#
# 1. a Debian 12 base: $BERTD_CONTAINER_BASE, else debian:12 from an image registry, else one made
#    here with debootstrap from Debian's packages (kept as localhost/bertd-base:bookworm);
# 2. `buildah bud` of the Dockerfile (every RUN step: apt-get, the CMake build, the runtime
#    libraries, the user), in docker format so the HEALTHCHECK is kept;
# 3. the image: runs as the non-root user bertd, its default command is `bertd run -c
#    /etc/bertd/bertd.yaml`, its HEALTHCHECK asks /readyz, and no compiler or -dev package is in
#    the runtime stage;
# 4. in the image, the daemon on a mounted config and a mounted model (the fixture JointBERT) reads
#    records from a broker started by tests/kafka/broker.sh, the image's own HEALTHCHECK command
#    answers once it is ready, every record comes out enriched, and SIGTERM stops it with status 0.
#
# Why buildah's chroot isolation and not `podman run`: on a machine whose root lacks
# CAP_SYS_RESOURCE (a sandboxed VM), crun and runc fail to start any container ("setrlimit
# RLIMIT_NPROC: Operation not permitted"); the chroot isolation needs no OCI runtime and runs the
# image's files, user and command on the host's network. Exit status 0 when every check passed,
# 77 (skipped) when buildah is not installed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="$2"; shift 2 ;;
        *) echo "usage: container_test.sh --build BUILD_DIR" >&2; exit 2 ;;
    esac
done
[ -n "$BUILD" ] || { echo "usage: container_test.sh --build BUILD_DIR" >&2; exit 2; }
BERTD="$BUILD/cli/bertd"
CACHE="${BERTD_CONTAINER_CACHE:-$ROOT/.container}"
IMAGE=localhost/bertd:test
RECORDS="${BERTD_CONTAINER_RECORDS:-300}"

command -v buildah >/dev/null 2>&1 || {
    echo "skipped: buildah is not installed (scripts/install-deps.sh installs it)"; exit 77; }

fails=0
check() { # check CONDITION-STATUS WHAT
    if [ "$1" -eq 0 ]; then echo "ok   $2"; else echo "FAIL $2"; fails=$((fails + 1)); fi
}
say() { echo "container_test: $*" >&2; }

TMP="$(mktemp -d /tmp/bertd-container.XXXXXX)"
CTR=""
DAEMON=""
export BERTD_KAFKA_STATE="$TMP/kafka" BERTD_KAFKA_OWNER_PID=$$
cleanup() {
    [ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null
    [ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1
    bash "$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- 1. the base image ----
base_image() {
    if [ -n "${BERTD_CONTAINER_BASE:-}" ]; then echo "$BERTD_CONTAINER_BASE"; return 0; fi
    local local_base=localhost/bertd-base:bookworm
    if buildah inspect --type image "$local_base" >/dev/null 2>&1; then echo "$local_base"; return 0; fi
    if timeout 60 buildah pull -q docker.io/library/debian:12 >/dev/null 2>&1; then
        echo docker.io/library/debian:12; return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || { say "no image registry and no debootstrap"; return 1; }
    say "no image registry answers: making a Debian 12 base with debootstrap (a minute or two)"
    mkdir -p "$CACHE"
    rm -rf "$CACHE/rootfs"
    debootstrap --variant=minbase bookworm "$CACHE/rootfs" http://deb.debian.org/debian \
        >"$CACHE/debootstrap.log" 2>&1 || { say "debootstrap failed (see $CACHE/debootstrap.log)"; return 1; }
    tar -C "$CACHE/rootfs" -cf "$CACHE/rootfs.tar" . || return 1
    local c
    c="$(buildah from scratch)" &&
        buildah add "$c" "$CACHE/rootfs.tar" / >/dev/null &&
        buildah config --cmd /bin/bash "$c" &&
        buildah commit -q "$c" "$local_base" >/dev/null
    local rc=$?
    buildah rm "$c" >/dev/null 2>&1
    rm -rf "$CACHE/rootfs" "$CACHE/rootfs.tar"
    [ $rc -eq 0 ] && echo "$local_base"
}
BASE="$(base_image)"
check $? "a Debian 12 base image: ${BASE:-none}"
[ -n "$BASE" ] || exit 1

# ---- 2. the build ----
t0=$(date +%s)
buildah bud --isolation chroot --network host --format docker --layers \
    --build-arg BASE="$BASE" --build-arg BUILD_JOBS=2 -t "$IMAGE" "$ROOT" >"$TMP/bud.log" 2>&1
rc=$?
[ $rc -ne 0 ] && tail -30 "$TMP/bud.log"
check $rc "buildah bud of the Dockerfile (every RUN step) in $(( $(date +%s) - t0 )) s"
[ $rc -eq 0 ] || exit 1

# ---- 3. the image ----
buildah inspect --type image "$IMAGE" >"$TMP/image.json"
field() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["Docker"]["config"]; print(json.dumps(c.get(sys.argv[2])))' "$TMP/image.json" "$1"; }
[ "$(field User)" = '"bertd"' ]
check $? "runs as the non-root user bertd (User $(field User))"
[ "$(field Entrypoint)" = '["/opt/bertd/bin/bertd"]' ] &&
    [ "$(field Cmd)" = '["run", "-c", "/etc/bertd/bertd.yaml"]' ]
check $? "default command: bertd run -c /etc/bertd/bertd.yaml ($(field Entrypoint) $(field Cmd))"
HC="$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["Docker"]["config"]["Healthcheck"]["Test"]; print(t[1] if t[0] == "CMD-SHELL" else "")' "$TMP/image.json" 2>/dev/null)"
case "$HC" in *"/readyz"*) true ;; *) false ;; esac
check $? "HEALTHCHECK asks /readyz: ${HC:-none}"
[ -n "$HC" ] || HC=false  # without one the readiness wait below must fail, not pass on sh -c ""
CTR="$(buildah from "$IMAGE")"
devpkgs="$(buildah run --isolation chroot "$CTR" -- dpkg-query -W -f '${Package}\n' |
           grep -E -- '-dev$|^gcc(-[0-9]+)?$|^g\+\+|^cpp|^cmake$|^ninja-build$|^make$|^python3' | paste -sd' ')"
[ -z "$devpkgs" ]
check $? "the runtime stage has no compiler, -dev package or Python (${devpkgs:-none})"
uid="$(buildah run --isolation chroot --user bertd "$CTR" -- id -u)"
[ "$uid" != "0" ] && [ -n "$uid" ]
check $? "user bertd is uid ${uid:-?}"

# ---- 4. the pipeline in the image ----
bootstrap="$(bash "$ROOT/tests/kafka/broker.sh" start 2>"$TMP/broker.log" | tail -1)"
check $? "broker started ($bootstrap)"
for t in utt:3 utt.out:3 utt.dlq:1; do
    bash "$ROOT/tests/kafka/broker.sh" create-topic "${t%%:*}" "${t##*:}" 2>>"$TMP/broker.log"
done
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed -e "s|\${BERTD_KAFKA_BOOTSTRAP:-127.0.0.1:9092}|$bootstrap|" \
    -e "s|listen: 0.0.0.0:9464|listen: 127.0.0.1:$port|" \
    -e "s|topics: \[utterances\]|topics: [utt]|; s|utterances.enriched|utt.out|; s|utterances.dlq|utt.dlq|" \
    -e "s|max_length: 128|max_length: 64|; s|buckets: \[16, 32, 64, 128\]|buckets: [16, 32, 64]|" \
    "$ROOT/deploy/bertd.yaml" >"$TMP/bertd.yaml"
python3 - "$ROOT/tests/fixtures/texts/utterances.jsonl" "$RECORDS" >"$TMP/in.jsonl" <<'EOF'
import json, sys
texts = [json.loads(l)["text"] for l in open(sys.argv[1]) if l.strip()]
for i in range(int(sys.argv[2])):
    print(json.dumps({"id": "c-%d" % i, "text": texts[i % len(texts)]}))
EOF
"$BERTD" produce --brokers "$bootstrap" --topic utt --schema "$ROOT/schemas/utterance.avsc" \
    --key-field id --input "$TMP/in.jsonl" >/dev/null
check $? "$RECORDS records produced to utt"
# the image's CMD, with the config and the model mounted as a user would
buildah run --isolation chroot --network host --user bertd \
    -v "$TMP/bertd.yaml:/etc/bertd/bertd.yaml:ro" \
    -v "$ROOT/tests/fixtures/models/joint:/models/intents:ro" \
    "$CTR" -- /opt/bertd/bin/bertd run -c /etc/bertd/bertd.yaml >"$TMP/daemon.log" 2>&1 &
DAEMON=$!
ready=1
for _ in $(seq 120); do
    if buildah run --isolation chroot --network host --user bertd \
         --env BERTD_METRICS_PORT="$port" "$CTR" -- sh -c "$HC" >/dev/null 2>&1; then
        ready=0; break
    fi
    kill -0 "$DAEMON" 2>/dev/null || break
    sleep 1
done
check $ready "the image's HEALTHCHECK command passes once the daemon is ready"
n=0
for _ in $(seq 120); do
    n="$("$BERTD" consume --brokers "$bootstrap" --topic utt.out --from-beginning --until-eof \
          --schema <("$BERTD" schema enrich "$ROOT/schemas/utterance.avsc") 2>/dev/null |
          python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in sys.stdin if "\"bertd\"" in l}))')"
    [ "$n" -ge "$RECORDS" ] && break
    kill -0 "$DAEMON" 2>/dev/null || break
    sleep 1
done
[ "$n" -eq "$RECORDS" ]
check $? "every record enriched by the daemon in the image ($n of $RECORDS)"
# SIGTERM to the daemon (buildah run's child): it drains, commits and exits 0
bpid="$(pgrep -P "$DAEMON" -x bertd || pgrep -f "^/opt/bertd/bin/bertd run -c /etc/bertd/bertd.yaml" | head -1)"
[ -n "$bpid" ] && kill -TERM "$bpid"
wait "$DAEMON"
rc=$?
DAEMON=""
[ $rc -eq 0 ]
check $? "SIGTERM: the daemon in the image exits 0 (status $rc)"
[ $fails -eq 0 ] || { echo "--- daemon log (last 30 lines)"; tail -30 "$TMP/daemon.log"; }
echo "$fails failed"
[ $fails -eq 0 ]
