"""Response cache: answers served from the cache vs relayed to the upstream, and what an enabled
cache costs when it misses, all in one run against real `polyroute serve` processes.

    .venv/bin/python bench/cache_hit.py [--seconds 8] [--clients 8] [--out bench/results/cache.md]

Two gateways (the same config but `litellm_settings.cache`), one fake OpenAI upstream (its own
process, tests/fakes/openai.py), the load generator here (httpx, `--clients` concurrent loops):

  * relayed:   cache off, the same question each time (every request goes upstream);
  * miss:      cache on (local), a new question each time (looked up, relayed, stored);
  * hit:       cache on, the same question each time after one warm-up (never goes upstream).

Every answer's body is checked (status 200, the upstream's text). Figures are req/s over the
phase; quote the ratios: this machine is shared and loaded, absolute numbers swing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

MASTER = "sk-bench-cache-master-0123456789"
UPSTREAM_KEY = "sk-fake-openai-key-0123456789abcdef"
TEXT = "Hello from the fake upstream."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_live(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} not live after 90 s")


def start_upstream() -> tuple[subprocess.Popen, str]:
    port = free_port()
    code = (
        "import time; from tests.fakes.openai import FakeOpenAI\n"
        f"fake = FakeOpenAI(api_key={UPSTREAM_KEY!r}); fake.port = {port}; fake.start()\n"
        "while True: time.sleep(3600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parent.parent)
    url = f"http://127.0.0.1:{port}"
    wait_live(url + "/v1/models", process, "upstream")
    return process, url


def start_gateway(upstream: str, workdir: Path, cache: bool) -> tuple[subprocess.Popen, str]:
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream + "/v1",
                    "api_key": UPSTREAM_KEY,
                },
            }
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 0},
        "litellm_settings": {"cache": cache, "cache_params": {"type": "local"}},
    }
    path = workdir / f"config-{cache}.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polyroute",
            "serve",
            "--config",
            str(path),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "POLYROUTE_DATA_DIR": str(workdir / f"data-{cache}")},
    )
    base = f"http://127.0.0.1:{port}"
    wait_live(base + "/health/liveness", process, "gateway")
    return process, base


async def phase(base: str, seconds: float, clients: int, unique: bool, expect: str) -> dict:
    """req/s of `clients` loops for `seconds`; each answer checked (status, text, cache header)."""
    counts = {"ok": 0, "bad": 0}
    headers = {"authorization": f"Bearer {MASTER}"}
    fixed = [{"role": "user", "content": "the same question " + uuid.uuid4().hex}]

    async def loop(client: httpx.AsyncClient, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            messages = [{"role": "user", "content": uuid.uuid4().hex}] if unique else fixed
            response = await client.post("/v1/chat/completions", json={"model": "gpt", "messages": messages})
            good = (
                response.status_code == 200
                and response.json()["choices"][0]["message"]["content"] == TEXT
                and response.headers.get("x-polyroute-cache", "off") == expect
            )
            counts["ok" if good else "bad"] += 1

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        if expect == "hit":  # the one miss that stores the answer
            await client.post("/v1/chat/completions", json={"model": "gpt", "messages": fixed})
        # Warm-up, not counted: connections, the key cache, first-call imports.
        warm_until = time.monotonic() + min(2.0, seconds / 4)
        await asyncio.gather(*(loop(client, warm_until) for _ in range(clients)))
        counts.update(ok=0, bad=0)
        started = time.monotonic()
        await asyncio.gather(*(loop(client, started + seconds) for _ in range(clients)))
        elapsed = time.monotonic() - started
    return {"rps": counts["ok"] / elapsed, **counts}


def report(results: dict[str, dict], args) -> str:
    relayed = results["relayed"]["rps"]
    rows = "\n".join(
        f"| {name} | {r['rps']:.0f} | {r['rps'] / relayed:.2f}x | {r['ok']} | {r['bad']} |"
        for name, r in results.items()
    )
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""# Response cache: hits vs relayed answers (bench/cache_hit.py)

One run, {when}: {args.clients} clients, {args.seconds:g} s per phase, one `polyroute serve`
process per gateway (cache off / `type: local`), the fake OpenAI upstream in its own process, all
on loopback. **The machine was shared and loaded** (load average {load} on {os.cpu_count()} CPUs
while it ran): absolute req/s are low and noisy; the ratios measured in this one run are the
figures to quote.

| phase | req/s | vs relayed | answers checked | bad |
|---|---|---|---|---|
{rows}

- **relayed**: cache off, every request goes to the upstream.
- **miss**: cache on, a new question each time: the lookup, the relay and the store (the cost of
  an enabled cache that never hits).
- **hit**: cache on, the same question: answered from process memory, never reaching the upstream.
"""


async def main(args: argparse.Namespace) -> str:
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            upstream, upstream_url = start_upstream()
            processes.append(upstream)
            off, off_url = start_gateway(upstream_url, Path(tmp), cache=False)
            processes.append(off)
            on, on_url = start_gateway(upstream_url, Path(tmp), cache=True)
            processes.append(on)
            results = {
                "relayed": await phase(off_url, args.seconds, args.clients, unique=False, expect="off"),
                "miss": await phase(on_url, args.seconds, args.clients, unique=True, expect="miss"),
                "hit": await phase(on_url, args.seconds, args.clients, unique=False, expect="hit"),
            }
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)
    return report(results, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cache.md"))
    arguments = parser.parse_args()
    text = asyncio.run(main(arguments))
    Path(arguments.out).write_text(text)
    print(text)
