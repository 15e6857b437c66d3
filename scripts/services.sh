# Sourced by scripts/test.sh and scripts/bench.sh: installs packages if needed,
# builds, and brings up Redis and Kafka when they are not already there. A
# broker it started is stopped on exit unless WARDEN_KEEP_SERVICES=1.
log() { printf '%s: %s\n' "${LOG_TAG:-warden}" "$*" >&2; }

ensure_packages() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing packages (npm ci)"
    npm ci --no-audit --no-fund
  fi
  npm run --silent build
}

ensure_redis() {
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
  node scripts/redis-ping.mjs "$REDIS_URL" 2>/dev/null && return 0
  if [ "$REDIS_URL" != "redis://127.0.0.1:6379" ]; then
    log "Redis at $REDIS_URL does not answer"; return 1
  fi
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing redis-server (apt-get)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      log "Redis is not running and redis-server is not installed: install Redis 7 or set REDIS_URL"; return 1
    fi
  fi
  log "starting redis-server on 127.0.0.1:6379 (no persistence)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do node scripts/redis-ping.mjs "$REDIS_URL" 2>/dev/null && return 0; sleep 0.1; done
  node scripts/redis-ping.mjs "$REDIS_URL"
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
    if [ "${WARDEN_KEEP_SERVICES:-0}" != 1 ]; then
      trap 'bash scripts/kafka.sh stop || true' EXIT
    fi
  fi
  bash scripts/kafka.sh topics
}
