#!/usr/bin/env python3
"""Holds N concurrent slow streams through polyroute and reports errors, timing and memory.

The upstream is the shared harness's Python fake (first byte after --ttfb-ms, then a chunk every
--chunk-ms); N clients (aiohttp, in this process, on CPU 0) each read one whole stream through
the gateway (CPU 1). Every stream must reassemble to the upstream's exact text and end in [DONE].

    bench/slow_streams.py [--streams 1000] [--ttfb-ms 50] [--chunk-ms 10] [--profile full]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench"))
# BENCH_PORTS="UPSTREAM GATEWAY" moves them, beside other benches on the same machine.
UPSTREAM_PORT, GATEWAY_PORT = (int(p) for p in os.environ.get("BENCH_PORTS", "18001 18080").split())


def wait_live(url: str, timeout_s: float = 60) -> None:
    """Start-up includes a schema migration in a child process: poll rather than guess."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310  # a loopback URL we built
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gateway not live after {timeout_s:g}s: {url}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, expected: str
) -> tuple[bool, float, str]:
    started = time.monotonic()
    first = None
    text = []
    try:
        async with session.post(
            url, data=body, headers={"authorization": "Bearer sk-bench", "content-type": "application/json"}
        ) as response:
            if response.status != 200:
                return False, 0.0, f"status {response.status}"
            buffer = b""
            async for chunk in response.content.iter_any():
                if first is None:
                    first = time.monotonic() - started
                buffer += chunk
            events = [e[6:] for e in buffer.decode().split("\n\n") if e.startswith("data: ")]
            if not events or events[-1] != "[DONE]":
                return False, first or 0.0, "no [DONE]"
            for event in events[:-1]:
                for choice in json.loads(event).get("choices", []):
                    text.append(choice.get("delta", {}).get("content") or "")
    except (TimeoutError, aiohttp.ClientError) as exc:
        return False, first or 0.0, type(exc).__name__
    ok = "".join(text) == expected
    return ok, first or 0.0, "" if ok else "text mismatch"


async def drive(streams: int, url: str, expected: str, pid: int | None) -> dict:
    body = json.dumps(
        {"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]}
    ).encode()
    connector = aiohttp.TCPConnector(limit=0)
    peak = [rss_mb(pid) if pid else 0.0]

    async def sample() -> None:
        while pid:
            peak[0] = max(peak[0], rss_mb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.ensure_future(sample())
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        started = time.monotonic()
        results = await asyncio.gather(*(one_stream(session, url, body, expected) for _ in range(streams)))
        elapsed = time.monotonic() - started
    sampler.cancel()
    errors: dict[str, int] = {}
    for ok, _, why in results:
        if not ok:
            errors[why] = errors.get(why, 0) + 1
    firsts = sorted(first for ok, first, _ in results if ok)
    return {
        "streams": streams,
        "ok": sum(ok for ok, _, _ in results),
        "errors": errors,
        "wall_s": round(elapsed, 2),
        "ttfb_ms_p50": round(firsts[len(firsts) // 2] * 1000, 1) if firsts else None,
        "ttfb_ms_p99": round(firsts[int(len(firsts) * 0.99) - 1] * 1000, 1) if firsts else None,
        "gateway_peak_rss_mb": round(peak[0], 1) if pid else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--ttfb-ms", type=float, default=50)
    parser.add_argument("--chunk-ms", type=float, default=10)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--direct", action="store_true", help="clients straight to the upstream (baseline)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "slow_streams.json"))
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    sys.path.insert(0, str(HARNESS))
    import fake_upstream

    upstream = subprocess.Popen(
        [
            sys.executable,
            str(HARNESS / "fake_upstream.py"),
            "--port",
            str(UPSTREAM_PORT),
            "--ttfb-ms",
            str(args.ttfb_ms),
            "--chunk-ms",
            str(args.chunk_ms),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    gateway = (
        None
        if args.direct
        else subprocess.Popen(
            [
                "taskset",
                "-c",
                "1",
                str(ROOT / ".venv" / "bin" / "polyroute"),
                "serve",
                "--config",
                str(ROOT / "bench" / "conf" / f"{args.profile}.yaml"),
                "--port",
                str(GATEWAY_PORT),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "BENCH_UPSTREAM": f"http://127.0.0.1:{UPSTREAM_PORT}/v1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    )
    try:
        if gateway is not None:
            wait_live(f"http://127.0.0.1:{GATEWAY_PORT}/health/liveness")
            time.sleep(1)  # settle: the idle figure is taken after start-up's work is done
        idle = rss_mb(gateway.pid) if gateway is not None else None
        port = UPSTREAM_PORT if gateway is None else GATEWAY_PORT
        result = asyncio.run(
            drive(
                args.streams,
                f"http://127.0.0.1:{port}/v1/chat/completions",
                fake_upstream.stream_text(),
                gateway.pid if gateway is not None else None,
            )
        )
        result.update(
            {
                "target": "upstream (direct)" if gateway is None else "polyroute",
                "gateway_idle_rss_mb": round(idle, 1) if idle is not None else None,
                "upstream_ttfb_ms": args.ttfb_ms,
                "upstream_chunk_ms": args.chunk_ms,
                "profile": args.profile,
            }
        )
    finally:
        for process in (gateway, upstream):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(10)
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
