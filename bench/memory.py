#!/usr/bin/env python3
"""RSS of the serving process: idle (full and bare profiles) and under wrk load on the full
profile (a virtual key, a group of two deployments, rpm/tpm, usage-based routing, metrics, a
spend row per request), for one or more source trees in one run, alternating.

    .venv/bin/python bench/memory.py [--src NAME=DIR/src ...] [--rounds 1] [--load-s 30]
        [--env NAME=VAR=VALUE ...]

Without --src it measures this checkout. Each --src runs that tree's source (an older commit
unpacked with `git archive`, say) with this checkout's virtual environment. `--env` adds an
environment variable to one target's gateway (MALLOC_ARENA_MAX=2, for instance). The load: wrk
with 64 connections, half the time answers, half 20-chunk streams, against the shared harness's
nginx upstream; RSS is read from /proc every second. Needs the shared harness
(../shared/bench: nginx, wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench"))
if not HARNESS.exists():
    HARNESS = Path("/work/shared/bench")
RUN = Path(os.environ.get("BENCH_RUN", "/tmp/bench-memory"))
UPSTREAM_PORT, GATEWAY_PORT = 18530, 18580  # apart from the other benches' ports
VIRTUAL_KEY = "sk-bench-virtual-0123456789abcdef"
START_TIMEOUT_S = 60
SERVE = ["taskset", "-c", "1", sys.executable, "-m", "polyroute", "serve", "--log-level", "warning"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_upstream() -> subprocess.Popen:
    sys.path.insert(0, str(HARNESS))
    import bench as harness  # the shared harness renders its nginx upstream config

    harness.RUN = str(RUN)
    RUN.mkdir(parents=True, exist_ok=True)
    fake = harness.fu
    conf = harness.render(
        "upstream-nginx.conf.tmpl",
        "upstream-nginx.conf",
        RUN=RUN,
        PORT=UPSTREAM_PORT,
        JSON=harness.nginx_quote(fake.JSON_BODY),
        **harness.sse_sets(fake.sse_events(harness.N_CHUNKS)),
        MODELS=harness.nginx_quote(fake.MODELS_BODY),
    )
    return subprocess.Popen(["taskset", "-c", "0", "nginx", "-p", str(RUN), "-c", conf])


def post(url: str, key: str, body: dict, timeout: float = 5) -> int:
    request = urllib.request.Request(  # noqa: S310  # loopback only
        url, data=json.dumps(body).encode(), headers={"authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read()
        return response.status


def start_gateway(src: str, profile: str, data_dir: str, extra_env: dict[str, str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": src,
        "POLYROUTE_DATA_DIR": data_dir,
        "BENCH_UPSTREAM": f"http://127.0.0.1:{UPSTREAM_PORT}/v1",
        **extra_env,
    }
    process = subprocess.Popen(
        [*SERVE, "--config", str(ROOT / "bench" / "conf" / f"{profile}.yaml"), "--port", str(GATEWAY_PORT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{GATEWAY_PORT}/health/liveness", timeout=1):  # noqa: S310
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gateway did not start")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)


def idle_rss(src: str, profile: str, extra_env: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        gateway = start_gateway(src, profile, data_dir, extra_env)
        try:
            time.sleep(2)  # start-up's work done (the same settle as /tmp/rss.sh)
            return round(rss_mb(gateway.pid), 1)
        finally:
            stop(gateway)


def start_wrk(url: str, body_file: Path, seconds: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_HEADERS": f"Authorization: Bearer {VIRTUAL_KEY}",
    }
    script = str(HARNESS / "wrk" / "post.lua")
    command = ["taskset", "-c", "0", "wrk", "-t1", "-c64", f"-d{seconds}s", "-s", script, url]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603


def under_load(src: str, load_s: int, extra_env: dict[str, str]) -> dict[str, float]:
    """The full profile with its virtual key, wrk for `load_s` seconds (answers then streams).
    The key is minted first by another gateway process over the same data dir, as
    bench/serve_with_key.sh does: the measured process never builds the admin API."""
    url = f"http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions"
    with tempfile.TemporaryDirectory() as data_dir:
        minter = start_gateway(src, "full", data_dir, extra_env)
        try:
            post(
                f"http://127.0.0.1:{GATEWAY_PORT}/key/generate",
                "sk-bench",
                {"key": VIRTUAL_KEY, "models": ["bench-model"], "rpm_limit": 10**8, "tpm_limit": 10**11},
            )
        finally:
            stop(minter)
        gateway = start_gateway(src, "full", data_dir, extra_env)
        try:
            time.sleep(2)
            idle = rss_mb(gateway.pid)
            samples: list[float] = []
            requests = 0
            for stream in (False, True):
                body = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}]}
                if stream:
                    body["stream"] = True
                body_file = RUN / f"memory-body-{int(stream)}.json"
                body_file.write_text(json.dumps(body))
                assert post(url, VIRTUAL_KEY, body) == 200
                load = start_wrk(url, body_file, load_s // 2)
                while load.poll() is None:
                    samples.append(rss_mb(gateway.pid))
                    time.sleep(1)
                requests += int(re.search(r"(\d+) requests in", load.stdout.read()).group(1))
            time.sleep(3)
            rest = rss_mb(gateway.pid)
            last_tenth = samples[-max(1, len(samples) // 10) :]
            return {
                "before_load_mb": round(idle, 1),
                "peak_mb": round(max(samples), 1),
                "end_of_load_mb": round(statistics.median(last_tenth), 1),
                "at_rest_mb": round(rest, 1),
                "requests": requests,
            }
        finally:
            stop(gateway)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", default=[], help="NAME=DIR (a checkout's src/ folder)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VAR=VALUE for one target")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--load-s", type=int, default=30)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "memory.json"))
    args = parser.parse_args()
    targets = dict(item.split("=", 1) for item in args.src) or {"this": str(ROOT / "src")}
    extra: dict[str, dict[str, str]] = {name: {} for name in targets}
    for item in args.env:
        name, variable, value = item.split("=", 2)
        extra[name][variable] = value
    results: dict[str, list[dict]] = {name: [] for name in targets}
    upstream = start_upstream()
    time.sleep(1)
    try:
        for _ in range(args.rounds):
            for name, src in targets.items():
                run = {
                    "idle_full_mb": idle_rss(src, "full", extra[name]),
                    "idle_bare_mb": idle_rss(src, "bare", extra[name]),
                    **under_load(src, args.load_s, extra[name]),
                }
                print(name, json.dumps(run), flush=True)
                results[name].append(run)
    finally:
        upstream.terminate()
        upstream.wait(10)
    report = {"load_s": args.load_s, "env": extra, "targets": results}
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
