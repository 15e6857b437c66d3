#!/usr/bin/env bash
# The one test command: installs what is missing, brings up Kafka and Redis when
# they are not already there, builds, runs the whole suite, and stops what it started.
#   npm test                 everything
#   npm test -- test/unit    a subset (arguments go to vitest)
# WARDEN_KEEP_SERVICES=1 leaves a Kafka broker it started running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf 'test: %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing packages (npm ci)"
  npm ci --no-audit --no-fund
fi
npm run --silent build

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
if ! node scripts/redis-ping.mjs "$REDIS_URL" 2>/dev/null; then
  if [ "$REDIS_URL" != "redis://127.0.0.1:6379" ]; then
    log "Redis at $REDIS_URL does not answer"; exit 1
  fi
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      log "installing redis-server (apt-get)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      log "Redis is not running and redis-server is not installed: install Redis 7 or set REDIS_URL"; exit 1
    fi
  fi
  log "starting redis-server on 127.0.0.1:6379 (no persistence)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do node scripts/redis-ping.mjs "$REDIS_URL" 2>/dev/null && break; sleep 0.1; done
  node scripts/redis-ping.mjs "$REDIS_URL"
fi

export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
started_kafka=0
if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
  bash scripts/kafka.sh start
  started_kafka=1
fi
if [ "$started_kafka" = 1 ] && [ "${WARDEN_KEEP_SERVICES:-0}" != 1 ]; then
  trap 'bash scripts/kafka.sh stop || true' EXIT
fi
bash scripts/kafka.sh topics

report="$(mktemp)"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
set -e
# The plain closing line CI reads, from vitest's own JSON report.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
rm -f "$report"
exit $status
