#!/usr/bin/env python3
"""CPU microseconds the gateway process spends per request, under wrk load on loopback.

Requests per second swing with whatever else runs on a shared 2-core machine; the CPU time a
server burns per request (utime + stime from /proc, divided by the requests wrk completed)
moves much less. Compares polyroute with the bare Python hop (pyfloor) in one run.

    bench/cpu_per_request.py [--duration 6] [--profile full|bare]
Needs the shared harness set up (../shared/bench/setup.sh: nginx, wrk, pyfloor venv).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench"))
RUN = Path(os.environ.get("BENCH_RUN", "/tmp/bench-cpu"))
UPSTREAM_PORT, GATEWAY_PORT = 18000, 18080
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(session: int) -> float:
    """utime + stime of every live process in a session (the gateway may run as a child of a
    wrapper, or as several workers), in seconds."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def wait_ready(url: str, headers: dict[str, str], body: bytes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(
                url, data=body, headers={**headers, "content-type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310  # loopback only
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"not ready: {url}")


def start_upstream() -> subprocess.Popen:
    sys.path.insert(0, str(HARNESS))
    import bench as harness  # the shared harness renders its nginx upstream config

    harness.RUN = str(RUN)
    RUN.mkdir(parents=True, exist_ok=True)
    fake = harness.fu  # the harness's fixed payloads: byte-identical to its own runs
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


def measure(
    name: str, cmd: list[str], env: dict[str, str], headers: dict[str, str], model: str, duration: int
) -> dict[str, float]:
    process = subprocess.Popen(
        ["taskset", "-c", "1", *cmd],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions"
    results: dict[str, float] = {}
    try:
        for stream in (False, True):
            body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
            if stream:
                body["stream"] = True
            body_file = RUN / f"body-{name}-{'stream' if stream else 'json'}.json"
            body_file.write_text(json.dumps(body))
            wait_ready(url, headers, body_file.read_bytes())
            wrk_env = {
                **os.environ,
                "BENCH_BODY_FILE": str(body_file),
                "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
            }
            wrk = [
                "taskset",
                "-c",
                "0",
                "wrk",
                "-t1",
                "-c64",
                f"-d{duration}s",
                "-s",
                str(HARNESS / "wrk" / "post.lua"),
                url,
            ]
            subprocess.run([*wrk[:5], "-d2s", *wrk[6:]], env=wrk_env, capture_output=True, check=True)  # warm
            before = cpu_seconds(process.pid)
            output = subprocess.run(wrk, env=wrk_env, capture_output=True, text=True, check=True).stdout
            spent = cpu_seconds(process.pid) - before
            done = int(re.search(r"(\d+) requests in", output).group(1))
            key = "stream" if stream else "json"
            results[f"{key}_cpu_us_per_request"] = round(spent / done * 1e6, 1)
            results[f"{key}_rps"] = round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--profile", default="full", choices=["full", "bare"])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cpu_per_request.json"))
    args = parser.parse_args()
    upstream = start_upstream()
    time.sleep(1)
    try:
        up = f"http://127.0.0.1:{UPSTREAM_PORT}/v1"
        targets = {
            "pyfloor": (
                [
                    f"{os.environ.get('BENCH_OPT', '/opt/bench')}/ref-venv/bin/uvicorn",
                    "--app-dir",
                    str(HARNESS),
                    "ref_proxy:app",
                    "--port",
                    str(GATEWAY_PORT),
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                {"UP": up},
                {},
            ),
            f"polyroute-{args.profile}": (
                [
                    str(ROOT / ".venv" / "bin" / "polyroute"),
                    "serve",
                    "--config",
                    str(ROOT / "bench" / "conf" / f"{args.profile}.yaml"),
                    "--port",
                    str(GATEWAY_PORT),
                    "--log-level",
                    "warning",
                ],
                {"BENCH_UPSTREAM": up},
                {"Authorization": "Bearer sk-bench"},
            ),
        }
        results = {
            name: measure(name, cmd, env, headers, "bench-model", args.duration)
            for name, (cmd, env, headers) in targets.items()
        }
    finally:
        upstream.terminate()
        upstream.wait(10)
    floor = results["pyfloor"]
    ours = results[f"polyroute-{args.profile}"]
    for key in ("json", "stream"):
        ours[f"{key}_cpu_ratio_to_pyfloor"] = round(
            ours[f"{key}_cpu_us_per_request"] / floor[f"{key}_cpu_us_per_request"], 2
        )
    print(json.dumps(results, indent=2))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
