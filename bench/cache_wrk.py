#!/usr/bin/env python3
"""A cache hit against a relayed answer, at wrk speed, in one run (bench/cache_hit.py measures the
same with a Python load generator, which caps the hit rate; this one does not).

The nginx upstream and gateway of bench/protocols.py, the gateway with `litellm_settings.cache:
true` (local). Both phases send the same chat request to the same gateway with wrk (64
connections): "relayed" asks `cache: {"no-cache": true, "no-store": true}` (no lookup, the
upstream answers), "hit" asks nothing (one warm-up stores it, then every answer is a hit, checked
by the x-polyroute-cache header of a probe). Answers and 20-chunk streams; then each phase again
at one connection, for the time one request takes (p50) with nothing queued behind it.

    bench/cache_wrk.py [--duration 6] [--out bench/results/cache_wrk.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import protocols  # noqa: E402  (the same upstream, gateway and wrk driver)
from cpu_per_request import cpu_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cache_wrk.json"))
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    for folder in ("body", "proxy"):
        (run / folder).mkdir()
    config_path = protocols.gateway_conf(run)
    config = json.loads(config_path.read_text())
    config["litellm_settings"] = {"cache": True, "cache_params": {"type": "local"}}
    config_path.write_text(json.dumps(config))
    upstream = subprocess.Popen(
        ["taskset", "-c", "0", "nginx", "-p", str(run), "-c", str(protocols.upstream_conf(run))]
    )
    gateway = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            str(ROOT / ".venv" / "bin" / "polyroute"),
            "serve",
            "--config",
            str(config_path),
            "--port",
            str(protocols.GATEWAY_PORT),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "POLYROUTE_DATA_DIR": str(run / "data")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{protocols.GATEWAY_PORT}/v1/chat/completions"
    results: dict[str, dict] = {}
    try:
        protocols._wait_ready()
        for stream in (False, True):
            kind = "stream" if stream else "json"
            base = protocols.body_for("chat", "gpt", stream)
            phases = (("relayed", {**base, "cache": {"no-cache": True, "no-store": True}}), ("hit", base))
            for phase, body in phases:
                probe = _probe(url, body)
                checked = protocols.wrk(run, url, body, 2, protocols.END_MARKERS[("chat", stream)])
                before = cpu_seconds(gateway.pid)
                measured = protocols.wrk(run, url, body, args.duration, None)
                spent = cpu_seconds(gateway.pid) - before
                results[f"{phase} ({kind})"] = {
                    "x_polyroute_cache": probe,
                    "rps": round(measured["requests"] / (measured["duration_us"] / 1e6)),
                    "cpu_us_per_request": round(spent / max(1, measured["requests"]) * 1e6, 1),
                    "p50_ms": measured["lat_p50_us"] / 1000,
                    "p99_ms": measured["lat_p99_us"] / 1000,
                    "errors": measured["non2xx3xx"] + measured["err_read"] + measured["err_timeout"],
                    "checked_bad": checked["checked_bad"],
                }
                print(phase, kind, results[f"{phase} ({kind})"], flush=True)
            results[f"hit ({kind})"]["ratio_to_relayed"] = round(
                results[f"hit ({kind})"]["rps"] / results[f"relayed ({kind})"]["rps"], 2
            )
            # One connection: how long one request takes to be served, nothing queued behind it.
            for phase, body in phases:
                one = protocols.wrk(run, url, body, args.duration, None, connections=1)
                results[f"{phase} ({kind}, one connection)"] = {
                    "rps": round(one["requests"] / (one["duration_us"] / 1e6)),
                    "p50_ms": one["lat_p50_us"] / 1000,
                    "p99_ms": one["lat_p99_us"] / 1000,
                    "errors": one["non2xx3xx"] + one["err_read"] + one["err_timeout"],
                }
                print(phase, kind, "one connection", results[f"{phase} ({kind}, one connection)"], flush=True)
            hit_one = results[f"hit ({kind}, one connection)"]
            relayed_one = results[f"relayed ({kind}, one connection)"]
            hit_one["p50_ratio_to_relayed"] = round(relayed_one["p50_ms"] / hit_one["p50_ms"], 2)
    finally:
        os.killpg(gateway.pid, signal.SIGTERM)
        gateway.wait(20)
        upstream.terminate()
        upstream.wait(10)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


def _probe(url: str, body: dict) -> str:
    """x-polyroute-cache of a second identical request (the first may be the one that stores)."""
    _ask(url, body)
    return _ask(url, body)


def _ask(url: str, body: dict) -> str:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {protocols.MASTER}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # loopback only
        response.read()
        return response.headers.get("x-polyroute-cache", "")


if __name__ == "__main__":
    main()
