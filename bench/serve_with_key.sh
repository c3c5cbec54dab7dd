#!/usr/bin/env bash
# Starts `polyroute serve` for the benchmark and mints the virtual key the load will use, so the
# measured path includes a virtual key checked from cache, its limits and its spend rows.
#   BENCH_UPSTREAM=... bench/serve_with_key.sh CONFIG PORT [WORKERS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
config=$1 port=$2 workers=${3:-1}
export POLYROUTE_DATA_DIR=${POLYROUTE_DATA_DIR:-$(mktemp -d /tmp/polyroute-bench.XXXXXX)}
"$ROOT/.venv/bin/polyroute" serve --config "$config" --port "$port" --workers "$workers" --log-level warning &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT TERM INT
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$port/health/liveness" >/dev/null && break
  sleep 0.1
done
# A key with limits far above the load: admission, counters and spend rows all run per request.
curl -sf "http://127.0.0.1:$port/key/generate" -H "Authorization: Bearer sk-bench" \
  -d '{"key": "sk-bench-virtual-0123456789abcdef", "key_alias": "bench", "models": ["bench-model"],
       "rpm_limit": 100000000, "tpm_limit": 100000000000, "max_budget": 1000000}' >/dev/null
wait $server
