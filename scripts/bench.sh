#!/usr/bin/env bash
# npm run bench: speed measured on this machine, against the real broker and Redis.
#   BENCH_EVENTS (default 1000000)  BENCH_IDENTITIES (default 10000)  BENCH_CONFIG (default config)
#   BENCH_INVALID_EVERY (default 0: none) every Nth event undecodable, a dead letter: batches with outputs to publish
#   BENCH_PRODUCER_EVENTS (default 200000)  BENCH_PRODUCER_RATE (default 2000, the paced latency run)
#   BENCH_CLIENTS (default 1; 0: kafkajs only) also measure the candidate Kafka clients (bench/clients)
#   BENCH_CLIENT_RATE (default 10000) BENCH_CLIENT_SECONDS (default 10): the bare consumers' latency run
#   BENCH_WARDEN (default 1; 0: the bare consumers only, no Warden run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=bench
. scripts/services.sh

# The candidate clients compared with kafkajs have their own package tree (bench/clients), not Warden's:
# `npm ci` at the root stays as it is. @confluentinc/kafka-javascript builds librdkafka from source here,
# linked against the system's zlib, OpenSSL, zstd and curl (CKJS_LINKING=dynamic), and needs make and a C++ compiler.
ensure_bench_clients() {
  [ "${BENCH_CLIENTS:-1}" = 0 ] && return 0
  local dir=bench/clients
  if [ -d "$dir/node_modules" ] && [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then return 0; fi
  local missing=() p
  for p in zlib1g-dev libssl-dev libzstd-dev libcurl4-openssl-dev make g++; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing ${missing[*]} (apt, for the confluent client's build)"
      apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      log "missing ${missing[*]}: @confluentinc/kafka-javascript will not build"
    fi
  fi
  log "installing the candidate Kafka clients (bench/clients, npm ci; the confluent one builds for a few minutes)"
  (cd "$dir" && CKJS_LINKING=dynamic npm ci --no-audit --no-fund) || log "candidate clients: install failed; the bench says which it could not measure"
}

ensure_packages
ensure_redis
ensure_kafka
ensure_bench_clients
export KAFKAJS_NO_PARTITIONER_WARNING=1
node bench/replay.mjs
node bench/service.mjs
node bench/producer.mjs
