#!/usr/bin/env bash
# npm run bench: speed measured on this machine, against the real broker and Redis.
#   BENCH_EVENTS (default 1000000)  BENCH_IDENTITIES (default 10000)  BENCH_CONFIG (default config)
#   BENCH_INVALID_EVERY (default 0: none) every Nth event undecodable, a dead letter: batches with outputs to publish
#   BENCH_PRODUCER_EVENTS (default 200000)  BENCH_PRODUCER_RATE (default 2000, the paced latency run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=bench
. scripts/services.sh
ensure_packages
ensure_redis
ensure_kafka
export KAFKAJS_NO_PARTITIONER_WARNING=1
node bench/replay.mjs
node bench/service.mjs
node bench/producer.mjs
