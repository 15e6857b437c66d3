#!/usr/bin/env bash
# A local Redis Cluster of masters on loopback ports, for the cluster tests and
# for trying Warden on a cluster without Docker. No replicas; no persistence
# unless REDIS_CLUSTER_APPENDONLY=yes.
#
# Usage: bash scripts/redis-cluster.sh start|stop|status|url|kill PORT
#
#   start   Start every node that is not running (a node killed before comes back
#           with its own nodes.conf, port and data), create the cluster if it was
#           never created, and wait until every node says cluster_state:ok.
#   stop    Shut every node down (NOSAVE) and delete the data directory.
#   status  Exit 0 if every node answers and says cluster_state:ok.
#   url     Print the REDIS_URL that points Warden at this cluster.
#   kill    SIGKILL one node's process (tests: a master lost mid-stream).
#
# Environment:
#   REDIS_CLUSTER_PORTS       the masters' ports            (default "7101 7102 7103"; bus: port + 10000)
#   REDIS_CLUSTER_DIR         nodes.conf, logs, PID files   (default ${TMPDIR:-/tmp}/warden-redis-cluster-<first port>)
#   REDIS_CLUSTER_APPENDONLY  yes: AOF with fsync always, so a killed node keeps what it acknowledged (default no)
#   REDIS_CLUSTER_NODE_TIMEOUT  cluster-node-timeout, ms    (default 1000: a lost master fails the cluster within ~2 s)
#
# Requires: redis-server and redis-cli 7+.
set -euo pipefail

read -r -a PORTS <<< "${REDIS_CLUSTER_PORTS:-7101 7102 7103}"
[[ ${#PORTS[@]} -ge 3 ]] || { echo "redis-cluster: REDIS_CLUSTER_PORTS needs at least 3 ports, got '${PORTS[*]}'" >&2; exit 1; }
for p in "${PORTS[@]}"; do
  [[ "$p" =~ ^[0-9]+$ ]] && (( p > 0 && p < 55536 )) || { echo "redis-cluster: bad port '$p' (the bus port, port + 10000, must be a port too)" >&2; exit 1; }
done
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/warden-redis-cluster-${PORTS[0]}}"
AOF="${REDIS_CLUSTER_APPENDONLY:-no}"
TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT:-1000}"

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
cli() { local port="$1"; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
answers() { [[ "$(cli "$1" ping 2>/dev/null)" == PONG ]]; }
state_ok() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_state:ok$'; }
known_nodes() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'; }

url() {
  local hosts=()
  for p in "${PORTS[@]}"; do hosts+=("127.0.0.1:$p"); done
  (IFS=,; echo "redis+cluster://${hosts[*]}")
}

start_node() {
  local port="$1" d="$DIR/$1"
  mkdir -p "$d"
  local persist=(--save '' --appendonly no)
  [[ "$AOF" == yes ]] && persist=(--save '' --appendonly yes --appendfsync always)
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$d" \
    --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
    --cluster-enabled yes --cluster-config-file "$d/nodes.conf" --cluster-node-timeout "$TIMEOUT" \
    "${persist[@]}" >/dev/null
}

wait_for() {
  local what="$1" check="$2" n=0
  shift 2
  until "$check" "$@"; do
    (( ++n > 150 )) && { log "timed out waiting for $what"; return 1; }
    sleep 0.1
  done
}

start() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || { log "redis-server and redis-cli are needed (apt-get install redis-server)"; exit 1; }
  for p in "${PORTS[@]}"; do
    if ! answers "$p"; then start_node "$p"; fi
  done
  for p in "${PORTS[@]}"; do wait_for "127.0.0.1:$p to answer (log: $DIR/$p/redis.log)" answers "$p"; done
  if [[ "$(known_nodes "${PORTS[0]}")" == 1 && ! -s "$DIR/created" ]]; then
    local hosts=()
    for p in "${PORTS[@]}"; do hosts+=("127.0.0.1:$p"); done
    log "creating the cluster on ${hosts[*]}"
    cli "${PORTS[0]}" --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 \
      || { cat "$DIR/create.log" >&2; exit 1; }
    date -u +%FT%TZ > "$DIR/created"
  fi
  for p in "${PORTS[@]}"; do wait_for "127.0.0.1:$p to say cluster_state:ok" state_ok "$p"; done
  log "up: $(url)"
}

stop() {
  for p in "${PORTS[@]}"; do
    if answers "$p"; then cli "$p" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  for p in "${PORTS[@]}"; do
    local pid
    pid="$(cat "$DIR/$p/redis.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DIR"
}

status() {
  local ok=0
  for p in "${PORTS[@]}"; do
    if state_ok "$p"; then echo "127.0.0.1:$p ok"; else echo "127.0.0.1:$p down or cluster not ok"; ok=1; fi
  done
  return $ok
}

kill_node() {
  local port="${1:?kill needs a port}" pid
  pid="$(cat "$DIR/$port/redis.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] || { log "no PID file for $port in $DIR"; exit 1; }
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  # A daemonized redis-server leaves its PID file behind when killed.
  rm -f "$DIR/$port/redis.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  kill) kill_node "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|url|kill PORT" >&2; exit 2 ;;
esac
