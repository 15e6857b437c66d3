#!/usr/bin/env bash
# npm run eval: the scenario catalogue on several seeds through the in-memory replay engine,
# Warden (config/detectors.yaml, eval/config manifests) beside a naive floor. No Kafka, no Redis.
#   EVAL_SEEDS (default 1,2,3)  EVAL_ARGS (extra warden eval flags, e.g. "--agents 80 --json")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npx tsc -p tsconfig.json
# shellcheck disable=SC2086
exec node bin/warden.js eval --catalogue --seeds "${EVAL_SEEDS:-1,2,3}" --config eval/config --detectors config/detectors.yaml ${EVAL_ARGS:-}
