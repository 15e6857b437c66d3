#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, combined broker+controller) for
# Warden development and integration tests, without Docker: the broker's jars
# come from Maven Central (scripts/kafka/pom.xml) and run on the local JDK (17+).
#
# Usage: bash scripts/kafka.sh start|stop|status|topics|reset
#
#   start   Start the broker in the background and wait until it serves metadata.
#           No-op if a broker already answers on the bootstrap address.
#   stop    Stop the broker started by `start` (TERM, then KILL after 20 s).
#   status  Exit 0 if the broker answers, 1 otherwise.
#   topics  Create Warden's topics (scripts/kafka/topics.txt) that are missing.
#   reset   Stop the broker and delete its data directory.
#
# Environment:
#   KAFKA_VERSION           Apache Kafka version              (default: <kafka.version> of
#                           scripts/kafka/pom.xml, the current 4.x; 3.9.1 also tested)
#   KAFKA_PORT              PLAINTEXT listener port           (default 9092)
#   KAFKA_CONTROLLER_PORT   KRaft controller listener port    (default 9093)
#   KAFKA_DATA_DIR          config, logs, PID file, log.dirs  (default <repo>/.kafka)
#   WARDEN_CACHE            jar cache root                    (default ~/.cache/warden)
#   KAFKA_START_TIMEOUT     seconds to wait for the broker    (default 90)
#   KAFKA_HEAP_OPTS         JVM heap flags                    (default -Xms256m -Xmx768m)
#   WARDEN_PARTITIONS       partitions of agent.actions       (default 6)
#   JAVA_HOME               JDK to use (default: java on PATH)
#
# Requires: java (17+), mvn (first start only), kcat.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
KAFKA_SUPPORT_DIR="$SCRIPT_DIR/kafka"
POM="$KAFKA_SUPPORT_DIR/pom.xml"
TOPICS_FILE="$KAFKA_SUPPORT_DIR/topics.txt"

POM_KAFKA_VERSION="$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1)"
[[ -n "$POM_KAFKA_VERSION" ]] || { echo "kafka: cannot read <kafka.version> from $POM" >&2; exit 1; }
KAFKA_VERSION="${KAFKA_VERSION:-$POM_KAFKA_VERSION}"
[[ "$KAFKA_VERSION" =~ ^([0-9]+)\.[0-9]+\.[0-9]+$ ]] \
  || { echo "kafka: KAFKA_VERSION must be a release like 4.4.0 or 3.9.1, got '$KAFKA_VERSION'" >&2; exit 1; }
KAFKA_MAJOR="${BASH_REMATCH[1]}"
# What moved between the lines: 4.x logs through log4j2 (3.x through reload4j),
# and its ConfigCommand is in kafka-tools (Java) instead of core (Scala).
case "$KAFKA_MAJOR" in
  3) KAFKA_LOGGING=reload4j
     LOG4J_OPTS=(-Dlog4j.configuration="file:$KAFKA_SUPPORT_DIR/log4j.properties")
     CONFIG_COMMAND=kafka.admin.ConfigCommand ;;
  4) KAFKA_LOGGING=log4j2
     LOG4J_OPTS=(-Dlog4j2.configurationFile="$KAFKA_SUPPORT_DIR/log4j2.properties")
     CONFIG_COMMAND=org.apache.kafka.tools.ConfigCommand ;;
  *) echo "kafka: KAFKA_VERSION $KAFKA_VERSION is not supported (3.x with KRaft, or 4.x)" >&2; exit 1 ;;
esac

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
DATA_DIR="${KAFKA_DATA_DIR:-$REPO_ROOT/.kafka}"
LIBS_DIR="${WARDEN_CACHE:-$HOME/.cache/warden}/kafka-$KAFKA_VERSION/libs"
LIBS_MARKER="$LIBS_DIR/.warden-complete"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"

PROPS_FILE="$DATA_DIR/server.properties"
PID_FILE="$DATA_DIR/kafka.pid"
CLUSTER_ID_FILE="$DATA_DIR/cluster.id"
VERSION_FILE="$DATA_DIR/kafka.version"   # the Kafka version that last started on this data
LOG_DIR="$DATA_DIR/logs"            # broker's own log4j output (server.log)
KAFKA_LOG_DIRS="$DATA_DIR/data"      # Kafka's log.dirs (topic data, KRaft metadata)
STDOUT_LOG="$LOG_DIR/stdout.log"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

say() { echo "kafka: $*"; }
err() { echo "kafka: $*" >&2; }
die() { err "$*"; exit 1; }

now_ms() { date +%s%3N; }
elapsed() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# --- prerequisites ----------------------------------------------------------

ensure_kcat() {
  command -v kcat >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "kcat not found; installing it with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null \
      || die "apt-get could not install kcat"
    command -v kcat >/dev/null 2>&1 || die "kcat still not on PATH after apt-get install"
  else
    die "kcat is required (used to probe the broker and list topics). Install it: sudo apt-get install kcat (Debian/Ubuntu), brew install kcat (macOS)"
  fi
}

ensure_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (set JAVA_HOME or put a JDK 17+ on PATH)"
  local v
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
  [[ -n "$v" && "$v" -ge 17 ]] || die "JDK 17+ required, found: $("$JAVA" -version 2>&1 | head -n 1)"
}

pom_hash() { { cat "$POM"; echo "$KAFKA_VERSION $KAFKA_LOGGING"; } | sha256sum | cut -d' ' -f1; }

# Jars are cached outside the repo; the marker (holding the pom's hash) is written
# only after a complete copy, so an interrupted download is redone next time.
ensure_libs() {
  local want; want="$(pom_hash)"
  if [[ -f "$LIBS_MARKER" && "$(cat "$LIBS_MARKER")" == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn (Maven) is required to fetch the Kafka $KAFKA_VERSION jars into $LIBS_DIR"
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR"
  local t0 tmp mvn_log; t0="$(now_ms)"
  mkdir -p "$(dirname "$LIBS_DIR")"
  tmp="$(mktemp -d "$(dirname "$LIBS_DIR")/libs.tmp.XXXXXX")"
  mvn_log="$tmp.mvn.log"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
        -Dkafka.version="$KAFKA_VERSION" -Dkafka.logging="$KAFKA_LOGGING" -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    err "Maven failed; last lines of its output:"
    tail -n 40 "$mvn_log" >&2
    rm -rf "$tmp" "$mvn_log"
    exit 1
  fi
  rm -f "$mvn_log"
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "Maven did not produce kafka_2.13-$KAFKA_VERSION.jar"; }
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  echo "$want" >"$LIBS_MARKER"
  say "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $(elapsed "$t0")"
}

# --- broker probing ---------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# True when a Kafka broker on the bootstrap address answers a metadata request.
# (Plain -L, not -L -t <topic>: asking for one topic would auto-create it.)
broker_answers() {
  port_open "$KAFKA_HOST" "$KAFKA_PORT" || return 1
  kcat -b "$BOOTSTRAP" -L -J -m "${1:-3}" 2>/dev/null | grep -q '"brokers":\[{'
}

# PID from the PID file if that process is alive and is our broker.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  fi
  echo "$pid"
}

show_log_tail() {
  local f
  for f in "$LOG_DIR/server.log" "$STDOUT_LOG"; do
    if [[ -s "$f" ]]; then
      err "---- last lines of $f ----"
      tail -n "${1:-40}" "$f" >&2
    fi
  done
}

wait_until_ready() {
  local pid="$1" t0="$2" deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      err "broker process $pid exited during startup"
      show_log_tail 60
      rm -f "$PID_FILE"
      exit 1
    fi
    if broker_answers 2; then
      say "broker ready at $BOOTSTRAP (pid $pid, Kafka $KAFKA_VERSION) in $(elapsed "$t0")"
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      err "broker did not answer on $BOOTSTRAP within ${START_TIMEOUT}s (pid $pid still running; stop it with: bash scripts/kafka.sh stop)"
      show_log_tail 60
      exit 1
    fi
    sleep 0.3
  done
}

# --- subcommands ------------------------------------------------------------

write_server_properties() {
  mkdir -p "$DATA_DIR" "$LOG_DIR" "$KAFKA_LOG_DIRS"
  cat >"$PROPS_FILE.tmp" <<EOF
# Generated by scripts/kafka.sh on every start; edit the script, not this file.
# Single-node KRaft: this process is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT

log.dirs=$KAFKA_LOG_DIRS

# One broker: every internal topic has a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1

num.partitions=3
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0

# Dev data is disposable: keep a day, at most 256 MiB per partition.
log.retention.hours=24
log.retention.bytes=268435456
log.retention.check.interval.ms=60000

# The log cleaner (needed for compacted warden.commands) allocates its whole
# dedupe buffer at startup; the 128 MiB default is sized for production.
log.cleaner.dedupe.buffer.size=33554432
EOF
  mv "$PROPS_FILE.tmp" "$PROPS_FILE"
}

java_tool() {
  # Runs a Kafka CLI class from the cached jars, logging through our log4j(2) config.
  # (C1 only + serial GC: these JVMs live ~1 s; their log4j output goes to tools.log.)
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    "${LOG4J_OPTS[@]}" -Dkafka.logs.dir="$LOG_DIR" -Dwarden.log.file=tools.log \
    -cp "$LIBS_DIR/*" "$@"
}

# A newer Kafka reads an older one's data (3.9 -> 4.x is the supported upgrade);
# the reverse fails deep in the broker's startup, so refuse it here by name.
check_data_version() {
  [[ -s "$VERSION_FILE" ]] || return 0
  local had; had="$(cat "$VERSION_FILE")"
  [[ "$had" == "$KAFKA_VERSION" ]] && return 0
  if [[ "$(printf '%s\n%s\n' "$had" "$KAFKA_VERSION" | sort -V | head -n 1)" == "$KAFKA_VERSION" ]]; then
    die "$DATA_DIR holds data of Kafka $had, which Kafka $KAFKA_VERSION cannot read: set KAFKA_DATA_DIR to another directory, or delete it with: KAFKA_DATA_DIR=$DATA_DIR bash scripts/kafka.sh reset"
  fi
  say "upgrading the data in $DATA_DIR from Kafka $had to $KAFKA_VERSION"
}

format_storage_if_needed() {
  if [[ -f "$KAFKA_LOG_DIRS/meta.properties" ]]; then
    return 0
  fi
  local cluster_id out
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cluster_id="$(cat "$CLUSTER_ID_FILE")"
  else
    cluster_id="$(java_tool kafka.tools.StorageTool random-uuid | tail -n 1 | tr -d '[:space:]')"
    [[ -n "$cluster_id" ]] || die "kafka.tools.StorageTool random-uuid returned nothing"
    echo "$cluster_id" >"$CLUSTER_ID_FILE"
  fi
  say "formatting KRaft storage in $KAFKA_LOG_DIRS (cluster id $cluster_id)"
  if ! out="$(java_tool kafka.tools.StorageTool format --ignore-formatted \
                -t "$cluster_id" -c "$PROPS_FILE" 2>&1)"; then
    err "storage format failed:"
    echo "$out" >&2
    exit 1
  fi
}

cmd_start() {
  ensure_kcat
  local t0 pid; t0="$(now_ms)"

  if broker_answers 3; then
    if pid="$(running_pid)"; then
      say "broker already running at $BOOTSTRAP (pid $pid)"
    else
      say "a broker already answers at $BOOTSTRAP (not started by this script; data dir $DATA_DIR unused)"
    fi
    return 0
  fi
  if pid="$(running_pid)"; then
    say "broker process $pid is already starting; waiting for it"
    wait_until_ready "$pid" "$t0"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    die "port $KAFKA_PORT is in use by something that is not answering as a Kafka broker (set KAFKA_PORT to use another port)"
  fi
  if port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
    die "controller port $KAFKA_CONTROLLER_PORT is in use (set KAFKA_CONTROLLER_PORT to use another port)"
  fi

  check_data_version
  ensure_java
  ensure_libs
  write_server_properties
  format_storage_if_needed
  echo "$KAFKA_VERSION" >"$VERSION_FILE"

  say "starting Kafka $KAFKA_VERSION (KRaft) on $BOOTSTRAP, controller on $KAFKA_HOST:$KAFKA_CONTROLLER_PORT; data in $DATA_DIR"
  local -a jvm_opts
  # shellcheck disable=SC2206  # HEAP_OPTS is a list of flags on purpose
  jvm_opts=($HEAP_OPTS
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true
    "${LOG4J_OPTS[@]}" -Dkafka.logs.dir="$LOG_DIR" -Dwarden.log.file=server.log)
  # setsid: own session, so the broker outlives the shell (and its process
  # group) that started it; nohup for terminals without setsid.
  local -a detach=(nohup)
  command -v setsid >/dev/null 2>&1 && detach=(setsid nohup)
  : >"$STDOUT_LOG"
  "${detach[@]}" "$JAVA" "${jvm_opts[@]}" -cp "$LIBS_DIR/*" kafka.Kafka "$PROPS_FILE" \
    >>"$STDOUT_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_until_ready "$pid" "$t0"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      say "no broker started by this script is running (something else listens on $BOOTSTRAP; left alone)"
    else
      say "not running"
    fi
    return 0
  fi
  local t0; t0="$(now_ms)"
  say "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for (( i = 0; i < 200; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    err "broker did not exit within 20s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  say "stopped in $(elapsed "$t0")"
}

cmd_status() {
  ensure_kcat
  local pid
  if broker_answers 3; then
    if pid="$(running_pid)"; then
      say "up at $BOOTSTRAP (pid $pid, data $DATA_DIR)"
    else
      say "up at $BOOTSTRAP (not started by this script)"
    fi
    return 0
  fi
  if pid="$(running_pid)"; then
    say "process $pid is running but $BOOTSTRAP does not answer (starting, or stuck: see $LOG_DIR/server.log)"
  else
    say "down ($BOOTSTRAP does not answer)"
  fi
  return 1
}

# Prints "name partitions configs" for each topic of topics.txt, with
# ${VAR:-default} partition counts resolved from the environment.
read_topics() {
  local name parts configs var def
  while read -r name parts configs _; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    if [[ "$parts" =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*):-([0-9]+)\}$ ]]; then
      var="${BASH_REMATCH[1]}"; def="${BASH_REMATCH[2]}"
      parts="${!var:-$def}"
    fi
    [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "topics.txt: bad partition count '$parts' for $name"
    echo "$name $parts ${configs:--}"
  done <"$TOPICS_FILE"
}

cmd_topics() {
  ensure_kcat
  broker_answers 5 || die "no broker answers at $BOOTSTRAP; start it with: bash scripts/kafka.sh start"
  local t0; t0="$(now_ms)"

  # Existing topics and partition counts, from one metadata request.
  local existing
  existing="$(kcat -b "$BOOTSTRAP" -L -m 5 2>/dev/null \
    | sed -n 's/^ *topic "\([^"]*\)" with \([0-9]*\) partitions:.*/\1 \2/p')"

  local topics  # (a plain assignment, so a bad topics.txt aborts the script)
  topics="$(read_topics)"
  local -a to_create=() to_verify=()
  local name parts configs have
  while read -r name parts configs; do
    have="$(awk -v t="$name" '$1 == t { print $2 }' <<<"$existing")"
    if [[ -n "$have" ]]; then
      if [[ "$have" != "$parts" ]]; then
        err "warning: topic $name exists with $have partitions (wanted $parts); left as is (bash scripts/kafka.sh reset to start over)"
      else
        say "topic $name exists ($have partitions)"
      fi
      [[ "$configs" == "-" ]] || to_verify+=("$name $configs")
    else
      to_create+=("$name $parts $configs")
    fi
  done <<<"$topics"

  if (( ${#to_create[@]} == 0 && ${#to_verify[@]} == 0 )); then
    say "all Warden topics present ($(elapsed "$t0"))"
    return 0
  fi

  ensure_java
  ensure_libs

  # An existing topic may lack its configs (e.g. warden.commands auto-created by
  # a producer before `topics` ran, with the default delete policy): one
  # TopicCommand --describe for all of them, then ConfigCommand for any fix.
  if (( ${#to_verify[@]} > 0 )); then
    verify_topic_configs "${to_verify[@]}"
  fi
  if (( ${#to_create[@]} == 0 )); then
    say "all Warden topics present ($(elapsed "$t0"))"
    return 0
  fi
  # One TopicCommand JVM per missing topic, run concurrently (kafka-topics.sh
  # takes a single --topic per invocation; each JVM start costs ~1-2 s).
  local tmpdir; tmpdir="$(mktemp -d)"
  local -a pids=() names=()
  local spec i
  for spec in "${to_create[@]}"; do
    read -r name parts configs <<<"$spec"
    local -a args=(--bootstrap-server "$BOOTSTRAP" --create --if-not-exists
                   --topic "$name" --partitions "$parts" --replication-factor 1)
    if [[ "$configs" != "-" ]]; then
      local kv; local -a kvs
      IFS=',' read -r -a kvs <<<"$configs"
      for kv in "${kvs[@]}"; do args+=(--config "$kv"); done
    fi
    java_tool org.apache.kafka.tools.TopicCommand "${args[@]}" >"$tmpdir/$name.out" 2>&1 &
    pids+=($!); names+=("$name $parts $configs")
  done
  local failed=0
  for i in "${!pids[@]}"; do
    read -r name parts configs <<<"${names[$i]}"
    if wait "${pids[$i]}"; then
      if [[ "$configs" == "-" ]]; then
        say "created topic $name ($parts partitions)"
      else
        say "created topic $name ($parts partitions, $configs)"
      fi
    else
      err "failed to create topic $name:"
      cat "$tmpdir/$name.out" >&2
      failed=1
    fi
  done
  rm -rf "$tmpdir"
  (( failed == 0 )) || exit 1
  say "topics ready ($(elapsed "$t0"))"
}

# Args: "name k=v,k=v" ...; ensures each topic has the given config overrides.
verify_topic_configs() {
  local spec name configs regex="" described line have kv
  for spec in "$@"; do
    read -r name _ <<<"$spec"
    regex+="${regex:+|}${name//./\\.}"
  done
  described="$(java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
                 --describe --topic "^($regex)\$" 2>&1)" \
    || { err "TopicCommand --describe failed:"; echo "$described" >&2; exit 1; }
  for spec in "$@"; do
    read -r name configs <<<"$spec"
    line="$(awk -F'\t' -v t="Topic: $name" '$1 == t && /Configs:/ { print; exit }' <<<"$described")"
    have="$(sed -n 's/.*Configs: *//p' <<<"$line" | tr -d '[:space:]')"
    local -a missing=()
    local -a kvs
    IFS=',' read -r -a kvs <<<"$configs"
    for kv in "${kvs[@]}"; do
      [[ ",$have," == *",$kv,"* ]] || missing+=("$kv")
    done
    if (( ${#missing[@]} == 0 )); then
      say "topic $name has $configs"
      continue
    fi
    local joined; joined="$(IFS=,; echo "${missing[*]}")"
    err "topic $name exists without $joined (current overrides: ${have:-none}); setting it"
    java_tool "$CONFIG_COMMAND" --bootstrap-server "$BOOTSTRAP" --alter \
      --entity-type topics --entity-name "$name" --add-config "$joined" >/dev/null \
      || die "could not set $joined on topic $name"
    say "topic $name now has $joined"
  done
}

cmd_reset() {
  cmd_stop
  case "$DATA_DIR" in
    ""|/|"$HOME"|"$REPO_ROOT") die "refusing to delete data dir '$DATA_DIR'";;
  esac
  if [[ -d "$DATA_DIR" ]]; then
    rm -rf "$DATA_DIR"
    say "deleted $DATA_DIR"
  else
    say "nothing to delete ($DATA_DIR does not exist)"
  fi
}

case "${1:-}" in
  start)  cmd_start ;;
  stop)   cmd_stop ;;
  status) cmd_status ;;
  topics) cmd_topics ;;
  reset)  cmd_reset ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
