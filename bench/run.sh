#!/usr/bin/env bash
# Benchmark polyroute against the peers in one run of the shared harness (../shared/bench).
#   bench/run.sh [harness args] [targets]     e.g.  bench/run.sh --quick direct pyfloor polyroute
# PROFILE=bare|full picks the gateway config (bench/conf/$PROFILE.yaml); default full.
# Results: $BENCH_RUN/results.json (default /tmp/bench-run), the harness's markdown table, and
# bench/results/latest.{md,json} (ratios to the peers of the same run, commands, versions, machine).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SHARED=${BENCH_HARNESS:-$ROOT/../shared/bench}
PROFILE=${PROFILE:-full}
[ -x "$ROOT/.venv/bin/polyroute" ] || (cd "$ROOT" && uv sync --frozen --no-dev --quiet)
export GATEWAY_NAME="polyroute-$PROFILE"
if [ "$PROFILE" = full ]; then
  # The full path: the load presents a virtual key (minted at start-up), not the master key.
  export GATEWAY_CMD="BENCH_UPSTREAM={UPSTREAM}/v1 exec $HERE/serve_with_key.sh $HERE/conf/full.yaml {PORT} 1"
  export GATEWAY_CMD_2W="BENCH_UPSTREAM={UPSTREAM}/v1 exec $HERE/serve_with_key.sh $HERE/conf/full.yaml {PORT} {WORKERS}"
  export GATEWAY_HEADERS="Authorization: Bearer sk-bench-virtual-0123456789abcdef"
else
  export GATEWAY_CMD="BENCH_UPSTREAM={UPSTREAM}/v1 exec $ROOT/.venv/bin/polyroute serve --config $HERE/conf/$PROFILE.yaml --port {PORT} --log-level warning"
  export GATEWAY_CMD_2W="BENCH_UPSTREAM={UPSTREAM}/v1 exec $ROOT/.venv/bin/polyroute serve --config $HERE/conf/$PROFILE.yaml --port {PORT} --workers {WORKERS} --log-level warning"
  export GATEWAY_HEADERS="Authorization: Bearer sk-bench"
fi
export GATEWAY_MODEL=bench-model
"$SHARED/run.sh" "$@"
results="${BENCH_RUN:-/tmp/bench-run}/results.json"
# A throughput run (not the stream probe) becomes bench/results/latest.{md,json}.
if [ -f "$results" ] && ! printf '%s\n' "$@" | grep -q -- '--probe-stream'; then
  "$ROOT/.venv/bin/python" "$HERE/report.py" "$results" --command "PROFILE=$PROFILE bench/run.sh $*" > /dev/null
  echo "report: $HERE/results/latest.md"
fi
