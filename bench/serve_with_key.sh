#!/usr/bin/env bash
# Starts `polyroute serve` for the benchmark with the virtual key the load will use, so the
# measured path includes a virtual key checked from cache, its limits and its spend rows.
#   BENCH_UPSTREAM=... bench/serve_with_key.sh CONFIG PORT [WORKERS]
# The key is minted first, through a gateway on a private port over the same data dir, so the
# harness never reaches the real port before the key exists (a process asked for an unknown key
# remembers the refusal for key_cache_ttl_s, which once turned the harness's body checks of
# `--workers 2` into 401s).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
config=$1 port=$2 workers=${3:-1}
export POLYROUTE_DATA_DIR=${POLYROUTE_DATA_DIR:-$(mktemp -d /tmp/polyroute-bench.XXXXXX)}
mint_port=$((port + 1000))
"$ROOT/.venv/bin/polyroute" serve --config "$config" --port "$mint_port" --log-level warning &
minter=$!
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$mint_port/health/liveness" >/dev/null && break
  sleep 0.1
done
# A key with limits far above the load: admission, counters and spend rows all run per request.
curl -sf "http://127.0.0.1:$mint_port/key/generate" -H "Authorization: Bearer sk-bench" \
  -d '{"key": "sk-bench-virtual-0123456789abcdef", "key_alias": "bench", "models": ["bench-model"],
       "rpm_limit": 100000000, "tpm_limit": 100000000000, "max_budget": 1000000}' >/dev/null
kill "$minter"
wait "$minter" 2>/dev/null || true
exec "$ROOT/.venv/bin/polyroute" serve --config "$config" --port "$port" --workers "$workers" --log-level warning
