#!/usr/bin/env python3
"""Soak: a mixed load against a real `polyroute serve` for a set time, watching for leaks.

The gateway runs as its own process (SQLite spend log in a temporary data dir) in front of two
fake OpenAI upstreams on loopback (tests/fakes/openai.py: real HTTP, real SSE), one of which
answers every third request with a 500 (retried on the other deployment), and a `mock/` group
that always fails with 503 (every request falls back to the real group). Concurrent clients
(aiohttp) mix answers and streams over several virtual keys, streams they drop after the first
chunk, invalid bodies (400) and unknown keys (401).

Figures are sampled every --sample-s: the gateway's RSS, open files and threads from /proc, and
from its /metrics (master key) the event loop's tasks, database pool connections, spend queue
and spend rows. The run has two phases with a rest after each (load stopped, in-flight requests
and the spend queue drained): a warm-up, then the measured soak. At rest, open files and tasks
must come back to the warm-up's rest figures; RSS growth is the last tenth of the soak's samples
against the first tenth (median of each).

    bench/soak.py --duration-s 600 --warmup-s 60            # results/soak.{json,md}
    bench/soak.py --duration-s 3600 --warmup-s 300 --name soak_1h

Exits 1 when a bound is broken (see --max-* options) or a request got an unexpected answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.base import Error, Reply, free_port  # noqa: E402  (the repo's own fakes)
from tests.fakes.openai import FakeOpenAI  # noqa: E402

MASTER = "sk-soak-master-0123456789"
UPSTREAM_KEY = "sk-fake-openai-key-0123456789abcdef"
TEXT = "The soak test keeps the gateway busy with a steady mix of answers and streams."


class FlakyOpenAI(FakeOpenAI):
    """Answers every third request with OpenAI's 500 error body; the others normally."""

    def __init__(self) -> None:
        super().__init__()
        self.served = 0

    def next_behaviour(self):  # type: ignore[override]
        with self._lock:
            self.served += 1
            self.requests.clear()  # a soak must not grow the fake's own record
            failing = self.served % 3 == 0
        return Error(500, message="flaky upstream") if failing else Reply(text=TEXT, chunk_delay=0.002)


class SteadyOpenAI(FakeOpenAI):
    def next_behaviour(self):  # type: ignore[override]
        with self._lock:
            self.requests.clear()
        return Reply(text=TEXT, chunk_delay=0.002)


def gateway_config(steady: str, flaky: str) -> dict:
    params = {"api_key": UPSTREAM_KEY, "model": "openai/soak"}
    return {
        "model_list": [
            {"model_name": "soak-model", "litellm_params": {**params, "api_base": steady + "/v1"},
             "model_info": {"id": "soak-steady"}},
            {"model_name": "soak-model", "litellm_params": {**params, "api_base": flaky + "/v1"},
             "model_info": {"id": "soak-flaky-upstream"}},
            {"model_name": "soak-fallback", "litellm_params": {
                "model": "mock/down", "mock_error_rate": 1.0, "mock_error_status": 503}},
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 2, "fallbacks": [{"soak-fallback": ["soak-model"]}]},
    }


@dataclass
class Tally:
    """Outcomes by kind of request; `unexpected` holds what no kind should get."""

    outcomes: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, outcome: str, expected: bool) -> None:
        key = f"{kind}:{outcome}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        if not expected:
            self.unexpected[key] = self.unexpected.get(key, 0) + 1


def chat_body(model: str, stream: bool) -> bytes:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "soak"}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


async def one_request(session: aiohttp.ClientSession, url: str, keys: list[str], rng: random.Random,
                      tally: Tally) -> None:
    """One request of a kind drawn from the mix; its outcome goes to `tally`."""
    roll = rng.random()
    key = rng.choice(keys)
    if roll < 0.40:
        kind, body, want = "answer", chat_body("soak-model", False), 200
    elif roll < 0.70:
        kind, body, want = "stream", chat_body("soak-model", True), 200
    elif roll < 0.80:
        kind, body, want = "dropped_stream", chat_body("soak-model", True), 200
    elif roll < 0.90:
        kind, body, want = "fallback", chat_body("soak-fallback", rng.random() < 0.5), 200
    elif roll < 0.96:
        kind, body, want = "invalid", b'{"model": "soak-model", "messages": "not a list"}', 400
    else:
        kind, body, want = "bad_key", chat_body("soak-model", False), 401
        key = f"sk-not-a-key-{rng.random()}"
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            if response.status != want:
                tally.add(kind, f"status {response.status}", False)
                return
            if kind == "dropped_stream":
                await response.content.readany()
                response.close()  # the client goes away mid-stream
                tally.add(kind, "dropped", True)
                return
            payload = await response.read()
            complete = response.status != 200 or b'"stream": true' not in body or payload.rstrip().endswith(
                b"data: [DONE]"
            )
            tally.add(kind, "ok" if complete else "stream without [DONE]", complete)
    except (TimeoutError, aiohttp.ClientError) as exc:
        tally.add(kind, type(exc).__name__, False)


async def load(url: str, keys: list[str], clients: int, seconds: float, seed: int, tally: Tally) -> int:
    """`clients` loops sending requests back to back for `seconds`; returns how many were sent."""
    sent = [0]
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() < deadline:
            await one_request(session, url, keys, rng, tally)
            sent[0] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(i) for i in range(clients)))
    return sent[0]


def proc_figures(pid: int) -> dict[str, float]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return {
        "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1),
        "open_files": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
    }


def metric_figures(base: str) -> dict[str, float]:
    text = httpx.get(base + "/metrics", headers={"authorization": f"Bearer {MASTER}"}, timeout=10).text
    wanted = {
        ("polyroute_event_loop_tasks", ()): "tasks",
        ("polyroute_database_connections", (("state", "checked_out"),)): "db_checked_out",
        ("polyroute_database_connections", (("state", "idle"),)): "db_idle",
        ("polyroute_spend_queue_depth", ()): "spend_queue",
        ("polyroute_spend_records_total", (("outcome", "written"),)): "spend_written",
        ("polyroute_spend_records_total", (("outcome", "dropped"),)): "spend_dropped",
    }
    out: dict[str, float] = {"in_flight": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = wanted.get((sample.name, tuple(sorted(sample.labels.items()))))
            if name:
                out[name] = sample.value
            elif sample.name == "polyroute_deployment_in_flight":
                out["in_flight"] += sample.value
    return out


def sample(pid: int, base: str, started: float, phase: str) -> dict[str, float | str]:
    return {"t_s": round(time.monotonic() - started, 1), "phase": phase, **proc_figures(pid),
            **metric_figures(base)}


def rest(pid: int, base: str, started: float, phase: str, timeout_s: float = 60) -> dict:
    """Waits for in-flight requests and the spend queue to drain, then samples."""
    deadline = time.monotonic() + timeout_s
    while True:
        figures = sample(pid, base, started, phase)
        if figures["in_flight"] == 0 and figures["spend_queue"] == 0 and figures["db_checked_out"] == 0:
            return figures
        if time.monotonic() > deadline:
            figures["drained"] = False
            return figures
        time.sleep(0.2)


@dataclass
class Run:
    """One soak's gateway, keys and what it has gathered so far."""

    args: argparse.Namespace
    pid: int
    base: str
    keys: list[str]
    started: float = field(default_factory=time.monotonic)
    samples: list[dict] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    sent: int = 0

    async def phase(self, name: str, seconds: float) -> None:
        """Runs the load for `seconds`, sampling every --sample-s in a thread (sampling blocks)."""
        args = self.args
        task = asyncio.ensure_future(
            load(self.base + "/v1/chat/completions", self.keys, args.clients, seconds,
                 args.seed + len(self.samples), self.tally)
        )
        while not task.done():
            self.samples.append(await asyncio.to_thread(sample, self.pid, self.base, self.started, name))
            await asyncio.wait([task], timeout=args.sample_s)
        self.sent += task.result()

    async def rest(self) -> dict:
        figures = await asyncio.to_thread(rest, self.pid, self.base, self.started, "rest")
        self.samples.append(figures)
        return figures


def mint_keys(base: str, count: int) -> list[str]:
    keys = []
    for index in range(count):
        response = httpx.post(
            base + "/key/generate", headers={"authorization": f"Bearer {MASTER}"},
            json={"key_alias": f"soak-{index}", "max_budget": 1_000_000, "rpm_limit": 10_000_000}, timeout=30,
        )
        response.raise_for_status()
        keys.append(response.json()["key"])
    return keys


def start_gateway(config: dict, workdir: Path) -> tuple[subprocess.Popen, str]:
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (workdir / "gateway.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "polyroute", "serve", "--config", str(config_path), "--port", str(port),
         "--log-level", "warning"],
        env={**os.environ, "POLYROUTE_DATA_DIR": str(workdir / "data")},
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # start-up migrates the schema in a child first: poll
    while True:
        if process.poll() is not None:
            raise RuntimeError("gateway exited: " + (workdir / "gateway.log").read_text()[-2000:])
        try:
            if httpx.get(base + "/health/liveness", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("gateway not live after 60 s")
        time.sleep(0.1)


def median_of(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def summarise(args, samples: list[dict], warm: dict, end: dict, tally: Tally, sent: int) -> dict:
    soak = [s for s in samples if s["phase"] == "soak"]
    tenth = max(1, len(soak) // 10)
    rss_first = round(median_of(soak[:tenth], "rss_mb"), 1)
    rss_last = round(median_of(soak[-tenth:], "rss_mb"), 1)
    growth = {
        "rss_pct": round(100 * (rss_last - rss_first) / rss_first, 1),
        "open_files_at_rest": end["open_files"] - warm["open_files"],
        "tasks_at_rest": end["tasks"] - warm["tasks"],
        "threads_at_rest": end["threads"] - warm["threads"],
        "db_idle_at_rest": end["db_idle"] - warm["db_idle"],
    }
    broken = []
    if growth["rss_pct"] > args.max_rss_growth_pct:
        broken.append(f"RSS grew {growth['rss_pct']} % > {args.max_rss_growth_pct} %")
    if growth["open_files_at_rest"] > args.max_open_files_growth:
        broken.append(f"open files grew by {growth['open_files_at_rest']}")
    if growth["tasks_at_rest"] > args.max_tasks_growth:
        broken.append(f"tasks grew by {growth['tasks_at_rest']}")
    if end.get("drained") is False or warm.get("drained") is False:
        broken.append("in-flight requests or the spend queue did not drain at rest")
    if end["spend_dropped"]:
        broken.append(f"{end['spend_dropped']:g} spend rows dropped")
    # one row per request a virtual key made (answers, streams, dropped streams, fallbacks, 400s);
    # none for an unknown key: nothing lost, nothing doubled
    expected_rows = sum(n for kind, n in tally.outcomes.items() if not kind.startswith("bad_key:"))
    if end["spend_written"] != expected_rows:
        broken.append(f"{end['spend_written']:g} spend rows for {expected_rows} requests with a key")
    if tally.unexpected:
        broken.append(f"unexpected answers: {tally.unexpected}")
    return {
        "duration_s": args.duration_s, "warmup_s": args.warmup_s, "clients": args.clients,
        "requests": sent, "spend_rows_expected": expected_rows,
        "outcomes": dict(sorted(tally.outcomes.items())), "unexpected": tally.unexpected,
        "rss_mb_first_tenth": rss_first, "rss_mb_last_tenth": rss_last, "rss_mb_peak": max(
            s["rss_mb"] for s in samples), "growth": growth, "rest_after_warmup": warm, "rest_at_end": end,
        "broken": broken, "samples": samples,
    }


def markdown(result: dict) -> str:
    g = result["growth"]
    lines = [
        f"# Soak: {result['duration_s']:g} s after a {result['warmup_s']:g} s warm-up, "
        f"{result['clients']} clients, {result['requests']} requests",
        "",
        "| figure | value |", "|---|---|",
        f"| RSS, median of first / last tenth of the soak | {result['rss_mb_first_tenth']} / "
        f"{result['rss_mb_last_tenth']} MB ({g['rss_pct']:+} %) |",
        f"| RSS peak | {result['rss_mb_peak']} MB |",
        f"| open files at rest, end - after warm-up | {g['open_files_at_rest']:+} |",
        f"| event-loop tasks at rest, end - after warm-up | {g['tasks_at_rest']:+} |",
        f"| threads at rest, end - after warm-up | {g['threads_at_rest']:+} |",
        f"| idle DB pool connections at rest, end - after warm-up | {g['db_idle_at_rest']:+} |",
        f"| spend rows written / expected (requests with a key) / dropped | "
        f"{result['rest_at_end']['spend_written']:g} / {result['spend_rows_expected']} / "
        f"{result['rest_at_end']['spend_dropped']:g} |",
        f"| max spend queue depth sampled | {max(s['spend_queue'] for s in result['samples']):g} |",
        "", "Outcomes (kind:outcome count): " + ", ".join(f"{k} {v}" for k, v in result["outcomes"].items()),
        "",
        "Verdict: " + ("; ".join(result["broken"]) or "nothing grew past its bound"),
    ]
    return "\n".join(lines) + "\n"


async def soak(args) -> dict:
    steady, flaky = SteadyOpenAI().start(), FlakyOpenAI().start()
    with tempfile.TemporaryDirectory(prefix="polyroute-soak-") as tmp:
        gateway, base = start_gateway(gateway_config(steady.url, flaky.url), Path(tmp))
        try:
            run = Run(args, gateway.pid, base, mint_keys(base, args.keys))
            await run.phase("warmup", args.warmup_s)
            warm = await run.rest()
            await run.phase("soak", args.duration_s)
            end = await run.rest()
        finally:
            gateway.terminate()
            gateway.wait(30)
            steady.stop()
            flaky.stop()
    return summarise(args, run.samples, warm, end, run.tally, run.sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=600, help="the measured soak (default 600)")
    parser.add_argument("--warmup-s", type=float, default=60, help="load before the measured soak")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--keys", type=int, default=4, help="virtual keys the load spreads over")
    parser.add_argument("--sample-s", type=float, default=5, help="sampling period")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-rss-growth-pct", type=float, default=10)
    parser.add_argument("--max-open-files-growth", type=int, default=8)
    parser.add_argument("--max-tasks-growth", type=int, default=8)
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--name", default="soak", help="results file name, without extension")
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))
    sys.exit(1 if result["broken"] else 0)


if __name__ == "__main__":
    main()
