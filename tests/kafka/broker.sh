#!/usr/bin/env bash
# A real, single-node Apache Kafka broker for bertd's integration tests.
#
#   broker.sh start                  a fresh broker (new ports, empty log dir), or the one already
#                                    running for this state dir; last line: 127.0.0.1:PORT
#   broker.sh stop                   graceful shutdown, waits for it; data is kept for `restart`
#   broker.sh kill                   kill -9; data is kept for `restart`
#   broker.sh restart                stop if running, start again on the same port and log dir
#   broker.sh status                 "running 127.0.0.1:PORT (pid N)" / "not running"; exit 0 / 3
#   broker.sh bootstrap              print 127.0.0.1:PORT of the running broker
#   broker.sh create-topic NAME PARTITIONS [REPLICATION]
#                                    create a topic (an identical existing one is fine)
#   broker.sh clean                  stop, then delete the state dir (log dir included)
#
# Secured listeners (BERTD_KAFKA_SECURE=1 at `start`): besides PLAINTEXT (whose anonymous
# principal is a super user, so the tests can set up topics and read results), the broker listens
# with SASL_SSL (SCRAM-SHA-512) and with SSL requiring a client certificate (mutual TLS), and an
# ACL authorizer refuses whatever no ACL allows. The test CA and the broker's certificate are made
# with openssl at `start`, the broker's keystore and truststore with keytool, all in the state
# dir's tls/; SCRAM users come from BERTD_KAFKA_SCRAM_USERS="name:password[,name:password]" (the
# format step registers them, as a KRaft cluster must). A certificate's principal is its CN.
#   broker.sh bootstrap sasl_ssl|ssl print the secured listener's 127.0.0.1:PORT
#   broker.sh ca                     print the path of the test CA's certificate (PEM)
#   broker.sh client-cert CN DIR [untrusted]
#                                    DIR/CN.key and DIR/CN.crt (PEM), signed by the test CA, or by
#                                    a throwaway CA the broker does not trust
#   broker.sh committed GROUP TOPIC  "PARTITION OFFSET" lines: the group's committed offsets
#   broker.sh acl PRINCIPAL topic|group NAME[*] read|write|describe
#                                    allow it (a trailing * makes NAME a prefix)
#
# The broker is kafka.Kafka from the jars of org.apache.kafka:kafka_2.13 (version pinned in
# pom.xml beside this script), resolved from Maven Central once with mvn and cached in
# $BERTD_KAFKA_CACHE (default: .kafka/ in the checkout, which .gitignore covers). It runs in KRaft
# combined mode (broker + controller in one JVM), listens on 127.0.0.1 only, on free ports picked
# at `start`. Health checks and topic creation use a small librdkafka tool (broker_admin.c) that
# this script compiles into the cache, so no JVM is started just to ask a question.
#
# Everything about one broker (pid, ports, config, log dir, server log) lives in the state dir
# $BERTD_KAFKA_STATE (default: .kafka/state), so any process can stop or restart it. Two brokers
# with different state dirs can run side by side. If $BERTD_KAFKA_OWNER_PID is set at start or
# restart, a watcher stops the broker when that process exits (a safety net for crashed tests).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${BERTD_KAFKA_CACHE:-$ROOT/.kafka}"
STATE="${BERTD_KAFKA_STATE:-$ROOT/.kafka/state}"
START_TIMEOUT_S="${BERTD_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT_S="${BERTD_KAFKA_STOP_TIMEOUT:-60}"
HEAP="${BERTD_KAFKA_HEAP:--Xmx512m}"

die() { echo "broker.sh: $*" >&2; exit 1; }
say() { echo "broker.sh: $*" >&2; }

# ---- prerequisites -------------------------------------------------------------------------

need_java() {
    command -v java >/dev/null 2>&1 ||
        die "java not found: install a Java 17+ runtime (scripts/install-deps.sh installs openjdk-17-jre-headless)"
    local v
    v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
    [ -n "$v" ] && [ "$v" -ge 17 ] ||
        die "Kafka $(kafka_version) needs Java 17 or newer; 'java -version' says ${v:-nothing}"
}

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml"; }

# The jars, resolved once per pom.xml content. The stamp holds the pom's checksum, so changing the
# pinned version resolves again and an interrupted copy is never mistaken for a complete one.
jars_dir() {
    local sum dir
    sum="$(sha256sum "$HERE/pom.xml" | cut -c1-16)"
    dir="$CACHE/jars-$(kafka_version)-$sum"
    if [ ! -f "$dir/.complete" ]; then
        command -v mvn >/dev/null 2>&1 ||
            die "mvn not found: Maven is needed once to fetch the Kafka jars (scripts/install-deps.sh installs maven)"
        say "resolving Kafka $(kafka_version) jars from Maven Central (first run only)"
        rm -rf "$dir.tmp"
        mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$dir.tmp" >"$CACHE/mvn.log" 2>&1 ||
            die "mvn could not resolve the Kafka jars (see $CACHE/mvn.log)"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
        touch "$dir/.complete"
    fi
    echo "$dir"
}

# broker_admin, compiled from broker_admin.c whenever the source is newer than the binary.
admin_bin() {
    local bin="$CACHE/bin/broker_admin" src="$HERE/broker_admin.c"
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
        mkdir -p "$CACHE/bin"
        command -v pkg-config >/dev/null 2>&1 && pkg-config --exists rdkafka ||
            die "librdkafka development files not found (scripts/install-deps.sh installs librdkafka-dev)"
        # shellcheck disable=SC2046
        ${CC:-cc} -std=c11 -O1 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -o "$bin.tmp.$$" \
            "$src" $(pkg-config --cflags --libs rdkafka) ||
            die "could not compile $src"
        mv "$bin.tmp.$$" "$bin"
    fi
    echo "$bin"
}

# ---- state ---------------------------------------------------------------------------------

port()      { cat "$STATE/port" 2>/dev/null || true; }
bootstrap() { echo "127.0.0.1:$(port)"; }

# The pid of this state dir's broker if it is alive. The command line is checked too, so a pid
# that was reused by another process after a crash is not mistaken for the broker.
live_pid() {
    local pid
    pid="$(cat "$STATE/pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $STATE/server.properties" ||
        return 1
    echo "$pid"
}

# The test CA and the broker's certificate (openssl), its keystore and truststore (keytool).
make_tls() {
    local d="$STATE/tls" pw
    rm -rf "$d"
    mkdir -p "$d"
    pw="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    echo "$pw" >"$d/store.password"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
            -subj "/CN=bertd test CA"
        openssl req -newkey rsa:2048 -nodes -keyout "$d/broker.key" -out "$d/broker.csr" \
            -subj "/CN=localhost"
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/broker.ext"
        openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -out "$d/broker.crt" -days 2 -extfile "$d/broker.ext"
        openssl pkcs12 -export -in "$d/broker.crt" -inkey "$d/broker.key" -name broker \
            -out "$d/broker.tmp.p12" -passout "pass:$pw"
        keytool -importkeystore -noprompt -srckeystore "$d/broker.tmp.p12" -srcstoretype PKCS12 \
            -srcstorepass "$pw" -destkeystore "$d/broker.p12" -deststoretype PKCS12 \
            -deststorepass "$pw"
        keytool -importcert -noprompt -alias ca -file "$d/ca.crt" -keystore "$d/truststore.p12" \
            -storetype PKCS12 -storepass "$pw"
    } >"$d/make.log" 2>&1 || die "could not make the test certificates (see $d/make.log)"
}

# The secured listeners' part of server.properties: SASL_PORT SSL_PORT PLAIN_PORT CONTROLLER_PORT.
secure_config() {
    local pw
    pw="$(cat "$STATE/tls/store.password")"
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4,SASL_SSL://127.0.0.1:$1,SSL://127.0.0.1:$2
advertised.listeners=PLAINTEXT://127.0.0.1:$3,SASL_SSL://127.0.0.1:$1,SSL://127.0.0.1:$2
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.location=$STATE/tls/broker.p12
ssl.keystore.type=PKCS12
ssl.keystore.password=$pw
ssl.key.password=$pw
ssl.truststore.location=$STATE/tls/truststore.p12
ssl.truststore.type=PKCS12
ssl.truststore.password=$pw
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
}

write_config() {
    local port="$1" cport="$2"
    cat >"$STATE/server.properties" <<EOF
# Written by tests/kafka/broker.sh: single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After kill -9 the controller keeps the dead broker's registration until its session expires
# (9 s by default) and the restarted broker cannot register before that: keep it short.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2500
EOF
    if [ -f "$STATE/secure_ports" ]; then
        # later keys win in a properties file: these replace the plaintext-only listeners
        # shellcheck disable=SC2046
        secure_config $(cat "$STATE/secure_ports") "$port" "$cport" >>"$STATE/server.properties"
    fi
    cat >"$STATE/log4j2.properties" <<EOF
appender.file.type=File
appender.file.name=file
appender.file.fileName=$STATE/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
EOF
}

# Starts the JVM on the config already in the state dir and waits until it answers.
launch() {
    local pid
    if [ ! -f "$STATE/data/meta.properties" ]; then
        local cluster_id
        # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding. It may start
        # with '-' (one start in 64), so it is passed as --cluster-id=ID, never as a separate word.
        cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
        local scram=() user users
        if [ -f "$STATE/secure_ports" ] && [ -n "${BERTD_KAFKA_SCRAM_USERS:-}" ]; then
            IFS=, read -ra users <<<"$BERTD_KAFKA_SCRAM_USERS"
            for user in "${users[@]}"; do
                scram+=(--add-scram "SCRAM-SHA-512=[name=\"${user%%:*}\",password=\"${user#*:}\"]")
            done
        fi
        java -cp "$JARS/*" -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
            kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$STATE/server.properties" \
            "${scram[@]}" >"$STATE/format.log" 2>&1 </dev/null 9>&- ||
            die "could not format the log dir (see $STATE/format.log)"
    fi
    # setsid: the broker outlives the calling shell and is not hit by its terminal's signals.
    # 9>&-: the broker must not inherit the state lock. Output goes to a file so a caller reading
    # our stdout through a pipe sees end-of-file when this script exits.
    setsid java $HEAP -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
        -cp "$JARS/*" kafka.Kafka "$STATE/server.properties" \
        >>"$STATE/stdout.log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$STATE/pid"
    if ! "$ADMIN" wait "$(bootstrap)" "$((START_TIMEOUT_S * 1000))" 2>"$STATE/wait.log"; then
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
            wait_gone "$pid" 10 || true
        fi
        rm -f "$STATE/pid"
        return 1
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$STATE/pid"
        return 1
    fi
    [ -n "${BERTD_KAFKA_OWNER_PID:-}" ] && watch_owner "$BERTD_KAFKA_OWNER_PID" "$pid"
    return 0
}

# Stops broker PID once process OWNER is gone (checked every second); exits if the broker goes.
watch_owner() {
    local owner="$1" pid="$2"
    setsid bash -c '
        owner=$1 pid=$2 timeout=$3
        while kill -0 "$owner" 2>/dev/null; do
            kill -0 "$pid" 2>/dev/null || exit 0
            sleep 1
        done
        kill -TERM "$pid" 2>/dev/null || exit 0
        for _ in $(seq "$timeout"); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
        kill -9 "$pid" 2>/dev/null || true
    ' watch_owner "$owner" "$pid" "$STOP_TIMEOUT_S" </dev/null >/dev/null 2>&1 9>&- &
}

wait_gone() {
    local pid="$1" seconds="$2" i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# ---- commands ------------------------------------------------------------------------------

cmd_start() {
    local pid
    if pid="$(live_pid)"; then
        say "already running (pid $pid)"
        bootstrap
        return 0
    fi
    # A fresh broker: new ports, empty log dir. A port taken between our pick and the broker's
    # bind shows up as a failed start; try again with new ports a couple of times.
    local attempt ports
    for attempt in 1 2 3; do
        rm -rf "$STATE/data" "$STATE/pid" "$STATE/server.log" "$STATE/stdout.log" \
            "$STATE/secure_ports"
        mkdir -p "$STATE/data"
        ports="$("$ADMIN" free-ports 4)" || die "could not find free ports"
        set -- $ports
        echo "$1" >"$STATE/port"
        echo "$2" >"$STATE/controller_port"
        if [ -n "${BERTD_KAFKA_SECURE:-}" ]; then
            make_tls
            echo "$3 $4" >"$STATE/secure_ports"
        fi
        write_config "$1" "$2"
        if launch; then
            say "started Kafka $(kafka_version) (pid $(cat "$STATE/pid"), state $STATE)"
            bootstrap
            return 0
        fi
        grep -q "Address already in use" "$STATE/stdout.log" "$STATE/server.log" 2>/dev/null || break
        say "port taken while starting (attempt $attempt); trying other ports"
    done
    die "broker did not start within ${START_TIMEOUT_S}s: $(last_error)"
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
        rm -f "$STATE/pid"
        die "broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S}s; killed it"
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
    wait_gone "$pid" 10 || die "broker (pid $pid) survived kill -9"
    rm -f "$STATE/pid"
    say "killed (pid $pid)"
}

cmd_restart() {
    [ -f "$STATE/server.properties" ] && [ -n "$(port)" ] ||
        die "nothing to restart in $STATE: run 'broker.sh start' first"
    live_pid >/dev/null && cmd_stop
    launch || die "broker did not come back on $(bootstrap) within ${START_TIMEOUT_S}s: $(last_error)"
    say "restarted (pid $(cat "$STATE/pid"))"
    bootstrap
}

cmd_status() {
    local pid
    if pid="$(live_pid)"; then
        echo "running $(bootstrap) (pid $pid)"
        return 0
    fi
    echo "not running"
    return 3
}

cmd_create_topic() {
    [ $# -ge 2 ] && [ $# -le 3 ] || die "usage: broker.sh create-topic NAME PARTITIONS [REPLICATION]"
    live_pid >/dev/null || die "not running: run 'broker.sh start' first"
    "$ADMIN" create-topic "$(bootstrap)" "$1" "$2" "${3:-1}" || exit 1
    say "topic $1 ready ($2 partitions)"
}

cmd_secure_bootstrap() {
    [ -f "$STATE/secure_ports" ] || die "no secured listeners: start with BERTD_KAFKA_SECURE=1"
    # shellcheck disable=SC2046
    set -- $(cat "$STATE/secure_ports")
    case "$PROTO" in
        sasl_ssl) echo "127.0.0.1:$1" ;;
        ssl)      echo "127.0.0.1:$2" ;;
        *)        die "usage: broker.sh bootstrap [sasl_ssl|ssl]" ;;
    esac
}

# A client's key and certificate (openssl), signed by the test CA or by a CA made just for it.
cmd_client_cert() {
    [ $# -ge 2 ] && [ $# -le 3 ] || die "usage: broker.sh client-cert CN DIR [untrusted]"
    local cn="$1" dir="$2" ca="$STATE/tls/ca.crt" cakey="$STATE/tls/ca.key"
    [ -f "$ca" ] || die "no test CA: start with BERTD_KAFKA_SECURE=1"
    mkdir -p "$dir"
    {
        if [ "${3:-}" = untrusted ]; then
            ca="$dir/$cn-other-ca.crt" cakey="$dir/$cn-other-ca.key"
            openssl req -x509 -newkey rsa:2048 -nodes -keyout "$cakey" -out "$ca" -days 2 \
                -subj "/CN=a CA the broker does not trust"
        fi
        openssl req -newkey rsa:2048 -nodes -keyout "$dir/$cn.key" -out "$dir/$cn.csr" -subj "/CN=$cn"
        openssl x509 -req -in "$dir/$cn.csr" -CA "$ca" -CAkey "$cakey" -CAcreateserial \
            -out "$dir/$cn.crt" -days 2
    } >"$dir/$cn.log" 2>&1 || die "could not make a certificate for $cn (see $dir/$cn.log)"
    echo "$dir/$cn.crt"
}

cmd_clean() {
    cmd_stop
    rm -rf "$STATE"
    say "removed $STATE"
}

# The most telling line of the broker's logs, for one-line failure messages.
last_error() {
    local line
    line="$(grep -hE "ERROR|Exception|Error:" "$STATE/stdout.log" "$STATE/server.log" 2>/dev/null |
            head -1 | cut -c1-300 || true)"
    [ -z "$line" ] && line="$(cat "$STATE/wait.log" 2>/dev/null | head -1 || true)"
    echo "${line:-no log output} (logs: $STATE/server.log)"
}

main() {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
        start|stop|kill|restart|status|bootstrap|create-topic|clean|ca|client-cert|acl|committed) ;;
        *) die "usage: broker.sh start|stop|restart|kill|status|bootstrap|create-topic NAME PARTITIONS|clean" ;;
    esac
    mkdir -p "$CACHE" "$STATE"
    # One command at a time per state dir: concurrent `start`s find one broker, not two.
    exec 9>"$STATE/.lock"
    flock 9
    # Resolved here, not inside the functions that use them: a failure must stop the script, and
    # `set -e` does not act inside a function called as an `if` condition.
    case "$cmd" in
        start|restart)
            need_java
            JARS="$(jars_dir)"
            ADMIN="$(admin_bin)" ;;
        create-topic|acl|committed)
            ADMIN="$(admin_bin)" ;;
    esac
    case "$cmd" in
        start)        cmd_start ;;
        stop)         cmd_stop ;;
        kill)         cmd_kill ;;
        restart)      cmd_restart ;;
        status)       cmd_status ;;
        bootstrap)    live_pid >/dev/null || die "not running"
                      if [ $# -gt 0 ]; then PROTO="$1" cmd_secure_bootstrap; else bootstrap; fi ;;
        ca)           echo "$STATE/tls/ca.crt" ;;
        committed)    [ $# -eq 2 ] || die "usage: broker.sh committed GROUP TOPIC"
                      live_pid >/dev/null || die "not running"
                      "$ADMIN" committed "$(bootstrap)" "$1" "$2" || exit 1 ;;
        client-cert)  cmd_client_cert "$@" ;;
        acl)          [ $# -eq 4 ] || die "usage: broker.sh acl PRINCIPAL topic|group NAME[*] OP"
                      live_pid >/dev/null || die "not running"
                      "$ADMIN" create-acl "$(bootstrap)" "User:$1" "$2" "$3" "$4" || exit 1 ;;
        create-topic) cmd_create_topic "$@" ;;
        clean)        cmd_clean ;;
    esac
}

main "$@"
