#!/usr/bin/env bash
# The one test command: installs what is missing, brings up Kafka, Redis and a
# local Redis Cluster when they are not already there, builds, runs the whole
# suite, and stops what it started.
#   npm test                 everything
#   npm test -- test/unit    a subset (arguments go to vitest)
# WARDEN_KEEP_SERVICES=1 leaves a Kafka broker or Redis Cluster it started running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=test
. scripts/services.sh
ensure_packages
ensure_redis
ensure_redis_cluster
ensure_promtool
ensure_kafka
ensure_chromium
export KAFKAJS_NO_PARTITIONER_WARNING=1

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
