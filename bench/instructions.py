#!/usr/bin/env python3
"""Instructions per request: the gateway process under callgrind, a count that does not move
with whatever else the machine runs (CPU time and req/s on these shared 2-core VMs swing by
10-30 % between runs of the same code).

The gateway (or pyfloor, the bare Python hop) starts under `valgrind --tool=callgrind` with
instrumentation off; after start-up and a warm-up, instrumentation is switched on
(`callgrind_control -i on`), N requests are sent at a fixed concurrency, and the counts are
dumped. All threads count (the event loop, the spend journal's thread, SQLite's thread); the
kernel's work (socket I/O) does not, so a path with less I/O looks dearer here than in CPU time.
Runs of the same tree differ by about 3 %.

    bench/instructions.py [--src NAME=DIR/src ...] [--pyfloor] [--requests 1000] [--stream] [--cache]
Needs valgrind and the shared harness (nginx, pyfloor's venv: ../shared/bench/setup.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import cpu_per_request as rig  # noqa: E402  (the nginx upstream and ports of the CPU benchmark)

CONCURRENCY = 8
BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}


def gateway_command(src: str, config: Path) -> tuple[list[str], dict[str, str]]:
    if src == "pyfloor":
        venv = Path(os.environ.get("BENCH_OPT", "/opt/bench")) / "ref-venv" / "bin"
        command = [
            str(venv / "python"),
            str(venv / "uvicorn"),
            "--app-dir",
            str(rig.HARNESS),
            "ref_proxy:app",
        ]
        command += ["--port", str(rig.GATEWAY_PORT), "--loop", "uvloop", "--http", "httptools"]
        return [*command, "--no-access-log", "--log-level", "warning"], {"UP": upstream_url()}
    command = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / ".venv" / "bin" / "polyroute"), "serve"]
    command += ["--config", str(config), "--port", str(rig.GATEWAY_PORT), "--log-level", "warning"]
    return command, {"BENCH_UPSTREAM": upstream_url(), "PYTHONPATH": src}


def upstream_url() -> str:
    return f"http://127.0.0.1:{rig.UPSTREAM_PORT}/v1"


async def send(count: int, stream: bool) -> int:
    """`count` requests, CONCURRENCY at a time; returns how many were not 200."""
    url = f"http://127.0.0.1:{rig.GATEWAY_PORT}/v1/chat/completions"
    body = {**BODY, "stream": True} if stream else BODY
    failed = 0
    gate = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            nonlocal failed
            async with (
                gate,
                session.post(url, json=body, headers={"Authorization": "Bearer sk-bench"}) as response,
            ):
                await response.read()
                failed += response.status != 200

        await asyncio.gather(*(one() for _ in range(count)))
    return failed


def measure(name: str, src: str, config: Path, requests: int, stream: bool, out: Path) -> int:
    """Instructions per request of one target."""
    dump = out / f"callgrind.{name}.%p"
    command, env = gateway_command(src, config)
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}"]
    process = subprocess.Popen(
        ["taskset", "-c", "1", *valgrind, *command],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300  # start-up under valgrind is slow
        while True:
            try:
                if asyncio.run(send(1, stream)) == 0:
                    break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} did not start")
            time.sleep(1)
        asyncio.run(send(200, stream))  # warm: caches, pools, the cache entry of --cache
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True)
        failed = asyncio.run(send(requests, stream))
        subprocess.run(["callgrind_control", "-d", str(process.pid)], check=True, capture_output=True)
        if failed:
            raise RuntimeError(f"{name}: {failed} of {requests} requests failed")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
    [part] = out.glob(f"callgrind.{name}.*.1")  # the dump `-d` made (the exit writes part 2)
    total = int(re.search(r"^summary:\s+(\d+)", part.read_text(), re.MULTILINE).group(1))
    return round(total / requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", default=[], help="NAME=DIR (a checkout's src/)")
    parser.add_argument("--pyfloor", action="store_true", help="the bare Python hop too")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--stream", action="store_true", help="20-chunk streams instead of answers")
    parser.add_argument(
        "--cache", action="store_true", help="the full profile with a local response cache (hits)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "instructions.json"))
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    config = ROOT / "bench" / "conf" / "full.yaml"
    if args.cache:
        config = run / "full_cache.yaml"
        cache = "litellm_settings: {cache: true, cache_params: {type: local}}\n"
        config.write_text((ROOT / "bench" / "conf" / "full.yaml").read_text() + cache)
    targets = dict(item.split("=", 1) for item in args.src) or {"polyroute": str(ROOT / "src")}
    if args.pyfloor:
        targets["pyfloor"] = "pyfloor"
    upstream = rig.start_upstream()
    time.sleep(1)
    try:
        results = {
            name: measure(name, src, config, args.requests, args.stream, run) for name, src in targets.items()
        }
    finally:
        upstream.terminate()
        upstream.wait(10)
    report = {
        "stream": args.stream,
        "cache": args.cache,
        "requests": args.requests,
        "instructions_per_request": results,
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
