#!/usr/bin/env bash
# A real Schema Registry for bertd's tests: Apicurio Registry with its Confluent-compatible API.
#
#   registry.sh start      a fresh registry (a new free loopback port, empty storage), or the one
#                          already running for this state dir; last line: its Confluent API URL,
#                          http://127.0.0.1:PORT/apis/ccompat/v7
#   registry.sh stop       graceful shutdown, waits for it; the stored schemas are kept
#   registry.sh kill       kill -9; the stored schemas are kept
#   registry.sh restart    start again on the same port with the same schemas (after stop/kill)
#   registry.sh status     "running URL (pid N)" / "not running"; exit 0 / 3
#   registry.sh url        print the running registry's Confluent API URL
#   registry.sh build      only build (or find) the registry in the cache; last line: its folder
#   registry.sh clean      stop, then delete the state dir
#
# The registry is the Quarkus application of pom.xml beside this script (Apicurio Registry's
# application jar from Maven Central and two small classes of ours: pom.xml says why), built with
# mvn once per content of this folder and cached in $BERTD_REGISTRY_CACHE (default: .registry/ in
# the checkout, which .gitignore covers). It listens on 127.0.0.1 only. Its schemas are kept in an
# H2 database file in the state dir, so `restart` brings back the same ids (a registry that was
# down and comes back), while `start` always begins empty.
#
# BERTD_REGISTRY_AUTH=USER:PASSWORD at start: the APIs answer 401 without that HTTP Basic user.
# BERTD_REGISTRY_OWNER_PID at start/restart: a watcher stops the registry when that process exits.
# State (pid, port, database, log) lives in $BERTD_REGISTRY_STATE (default: .registry/state).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${BERTD_REGISTRY_CACHE:-$ROOT/.registry}"
STATE="${BERTD_REGISTRY_STATE:-$CACHE/state}"
START_TIMEOUT_S="${BERTD_REGISTRY_START_TIMEOUT:-90}"
STOP_TIMEOUT_S=30
API=/apis/ccompat/v7

die() { echo "registry.sh: $*" >&2; exit 1; }
say() { echo "registry.sh: $*" >&2; }

need_java() {
    command -v java >/dev/null 2>&1 ||
        die "java not found: install a Java 17+ runtime (scripts/install-deps.sh installs openjdk-17-jre-headless)"
}

# The built application, once per content of pom.xml and src/ (their checksum names the folder,
# and a stamp marks a complete build, so an interrupted one is never used). The build runs in a
# copy inside the cache, so the source tree gets no target/ folder.
app_dir() {
    local sum dir
    sum="$(cd "$HERE" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
    dir="$CACHE/app-$sum"
    if [ ! -f "$dir/.complete" ]; then
        command -v mvn >/dev/null 2>&1 ||
            die "mvn not found: Maven is needed once to build the registry (scripts/install-deps.sh installs maven)"
        mkdir -p "$CACHE"
        exec 8>"$CACHE/.build.lock"
        flock 8
        if [ ! -f "$dir/.complete" ]; then
            say "building Apicurio Registry $(sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$HERE/pom.xml") from Maven Central (first run only, about a minute)"
            rm -rf "$dir.build" "$dir"
            mkdir -p "$dir.build"
            cp -r "$HERE/pom.xml" "$HERE/src" "$dir.build/"
            mvn -q -B -f "$dir.build/pom.xml" package -DskipTests >"$CACHE/mvn.log" 2>&1 ||
                die "mvn could not build the registry (see $CACHE/mvn.log)"
            mv "$dir.build/target/quarkus-app" "$dir"
            rm -rf "$dir.build"
            touch "$dir/.complete"
        fi
        exec 8>&-
    fi
    echo "$dir"
}

port() { cat "$STATE/port" 2>/dev/null || true; }
url()  { echo "http://127.0.0.1:$(port)$API"; }

live_pid() {
    local pid
    pid="$(cat "$STATE/pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dbertd.registry.state=$STATE " ||
        return 1
    echo "$pid"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# HTTP status of GET /subjects (000 when nothing answers).
probe() {
    local auth=()
    [ -n "${BERTD_REGISTRY_AUTH:-}" ] && auth=(-u "$BERTD_REGISTRY_AUTH")
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${auth[@]}" "$(url)/subjects" 2>/dev/null || true
}

launch() {
    local pid code i
    # setsid: outlives the calling shell; 9>&-: must not hold the state lock. H2 file storage
    # (REGISTRY_DATASOURCE_URL, Apicurio's own setting) keeps the schemas across a restart. The
    # user:password goes in the environment (bertd.registry.basic-auth, BasicAuth.java), not on
    # the command line where any user could read it.
    BERTD_REGISTRY_BASIC_AUTH="${BERTD_REGISTRY_AUTH:-}" \
    REGISTRY_DATASOURCE_URL="jdbc:h2:file:$STATE/data/registry;WRITE_DELAY=0" \
    setsid java -Xmx192m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dbertd.registry.state="$STATE" \
        -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$(port)" \
        -Dquarkus.log.file.enable=false -Dquarkus.log.console.color=false \
        -jar "$APP/quarkus-run.jar" >>"$STATE/registry.log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$STATE/pid"
    for ((i = 0; i < START_TIMEOUT_S * 4; i++)); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$STATE/pid"; return 1; }
        code="$(probe)"
        [ "$code" = 200 ] && break
        sleep 0.25
    done
    if [ "$code" != 200 ]; then
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$STATE/pid"
        return 1
    fi
    [ -n "${BERTD_REGISTRY_OWNER_PID:-}" ] && watch_owner "$BERTD_REGISTRY_OWNER_PID" "$pid"
    return 0
}

watch_owner() {
    setsid bash -c '
        owner=$1 pid=$2
        while kill -0 "$owner" 2>/dev/null; do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
        kill -TERM "$pid" 2>/dev/null || exit 0
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
        kill -9 "$pid" 2>/dev/null || true
    ' watch_owner "$1" "$2" </dev/null >/dev/null 2>&1 9>&- &
}

wait_gone() {
    local pid="$1" seconds="$2" i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

last_error() {
    local line
    line="$(grep -hE "ERROR|Exception" "$STATE/registry.log" 2>/dev/null | head -1 | cut -c1-300 || true)"
    echo "${line:-no error logged} (log: $STATE/registry.log)"
}

cmd_start() {
    local pid attempt
    if pid="$(live_pid)"; then
        say "already running (pid $pid)"
        url
        return 0
    fi
    for attempt in 1 2 3; do
        rm -rf "$STATE/data" "$STATE/pid" "$STATE/registry.log"
        mkdir -p "$STATE/data"
        free_port >"$STATE/port"
        if launch; then
            say "started Apicurio Registry (pid $(cat "$STATE/pid"), state $STATE)"
            url
            return 0
        fi
        grep -q "Address already in use" "$STATE/registry.log" 2>/dev/null || break
        say "port taken while starting (attempt $attempt); trying another"
    done
    die "registry did not start within ${START_TIMEOUT_S}s: $(last_error)"
}

cmd_stop() {
    local pid
    if ! pid="$(live_pid)"; then
        rm -f "$STATE/pid"
        say "not running"
        return 0
    fi
    kill -TERM "$pid"
    if ! wait_gone "$pid" "$STOP_TIMEOUT_S"; then
        kill -9 "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || true
    fi
    rm -f "$STATE/pid"
    say "stopped (pid $pid)"
}

cmd_kill() {
    local pid
    if ! pid="$(live_pid)"; then
        rm -f "$STATE/pid"
        say "not running"
        return 0
    fi
    kill -9 "$pid"
    wait_gone "$pid" 10 || die "registry (pid $pid) survived kill -9"
    rm -f "$STATE/pid"
    say "killed (pid $pid)"
}

cmd_restart() {
    [ -n "$(port)" ] || die "nothing to restart in $STATE: run 'registry.sh start' first"
    live_pid >/dev/null && cmd_stop
    launch || die "registry did not come back on $(url) within ${START_TIMEOUT_S}s: $(last_error)"
    say "restarted (pid $(cat "$STATE/pid"))"
    url
}

cmd_status() {
    local pid
    if pid="$(live_pid)"; then
        echo "running $(url) (pid $pid)"
        return 0
    fi
    echo "not running"
    return 3
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
        start|stop|kill|restart|status|url|build|clean) ;;
        *) die "usage: registry.sh start|stop|kill|restart|status|url|build|clean" ;;
    esac
    mkdir -p "$CACHE" "$STATE"
    exec 9>"$STATE/.lock"
    flock 9
    case "$cmd" in
        start|restart|build) need_java; APP="$(app_dir)" ;;
    esac
    case "$cmd" in
        start)   cmd_start ;;
        stop)    cmd_stop ;;
        kill)    cmd_kill ;;
        restart) cmd_restart ;;
        status)  cmd_status ;;
        url)     live_pid >/dev/null || die "not running"; url ;;
        build)   echo "$APP" ;;
        clean)   cmd_stop; rm -rf "$STATE"; say "removed $STATE" ;;
    esac
}

main "$@"
