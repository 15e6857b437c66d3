# Sourced by scripts/test.sh and scripts/bench.sh: installs packages if needed,
# builds, and brings up Redis, a local Redis Cluster (tests) and Kafka when they
# are not already there. A broker or cluster it started is stopped on exit
# unless WARDEN_KEEP_SERVICES=1.
log() { printf '%s: %s\n' "${LOG_TAG:-warden}" "$*" >&2; }

# What to stop on exit, in reverse order of start: one EXIT trap for all.
ON_EXIT=()
run_on_exit() { local i; for (( i=${#ON_EXIT[@]}-1; i>=0; i-- )); do eval "${ON_EXIT[i]}" || true; done; }
trap run_on_exit EXIT
stop_on_exit() { [ "${WARDEN_KEEP_SERVICES:-0}" = 1 ] || ON_EXIT+=("$1"); }

ensure_packages() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing packages (npm ci)"
    npm ci --no-audit --no-fund
  fi
  npm run --silent build
}

install_redis_server() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing redis-server (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    log "redis-server is not installed: install Redis 7 or set REDIS_URL (and REDIS_CLUSTER_URL for the cluster suite)"; return 1
  fi
}

ensure_redis() {
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
  node scripts/redis-ping.mjs "$REDIS_URL" 2>/dev/null && return 0
  if [ "$REDIS_URL" != "redis://127.0.0.1:6379" ]; then
    log "Redis at $REDIS_URL does not answer"; return 1
  fi
  install_redis_server || return 1
  log "starting redis-server on 127.0.0.1:6379 (no persistence)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do node scripts/redis-ping.mjs "$REDIS_URL" 2>/dev/null && return 0; sleep 0.1; done
  node scripts/redis-ping.mjs "$REDIS_URL"
}

# The cluster suite's Redis Cluster (test/integration/cluster-*.test.ts and the
# crash test on a cluster): 3 masters on 127.0.0.1:7101-7103 (scripts/redis-cluster.sh),
# or the cluster REDIS_CLUSTER_URL names, which must then answer.
ensure_redis_cluster() {
  if [ -n "${REDIS_CLUSTER_URL:-}" ]; then
    node scripts/redis-ping.mjs "$REDIS_CLUSTER_URL" 2>/dev/null && return 0
    log "Redis Cluster at $REDIS_CLUSTER_URL does not answer"; return 1
  fi
  export REDIS_CLUSTER_URL="$(bash scripts/redis-cluster.sh url)"
  install_redis_server || return 1
  if ! bash scripts/redis-cluster.sh status >/dev/null 2>&1; then
    bash scripts/redis-cluster.sh start
    stop_on_exit 'bash scripts/redis-cluster.sh stop'
  fi
}

# test/unit/deploy-monitoring.test.ts checks deploy/prometheus/*.yml with promtool
# (Debian's prometheus package has it).
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing promtool (apt-get install prometheus)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    log "promtool is not installed: install Prometheus' promtool (Debian/Ubuntu: apt-get install prometheus)"; return 1
  fi
}

# The status page's end-to-end test drives Debian's chromium through playwright-core
# (which downloads no browser of its own).
ensure_chromium() {
  command -v chromium >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    log "chromium is not installed (the status page test needs /usr/bin/chromium): apt-get install chromium"; return 1
  fi
}

# scripts/kafka.sh manages a broker on 127.0.0.1:$KAFKA_PORT: a local
# KAFKA_BROKERS (first address) sets that port, so the suite and the script
# agree on which broker they use. A remote one is used as it is.
ensure_kafka() {
  export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"
  local first="${KAFKA_BROKERS%%,*}"
  case "${first%:*}" in
    127.0.0.1|localhost) export KAFKA_PORT="${first##*:}" ;;
    *) log "Kafka at $KAFKA_BROKERS is not local: not starting a broker nor creating topics"; return 0 ;;
  esac
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    bash scripts/kafka.sh start
    stop_on_exit 'bash scripts/kafka.sh stop'
  fi
  bash scripts/kafka.sh topics
}
