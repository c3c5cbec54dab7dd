#!/usr/bin/env python3
"""Which upstream HTTP client should the gateway's hot path use: aiohttp or httpx?

Both run on uvloop with one pooled keep-alive client reused for every request, against a
fake OpenAI-compatible upstream on 127.0.0.1 whose bytes come from the shared harness
(/work/shared/bench/fake_upstream.py). Two workloads, the two shapes the gateway relays:

  json  POST /v1/chat/completions, read the whole JSON body and parse it (orjson);
  sse   the same with "stream": true, a 20-chunk SSE body read chunk by chunk
        (aiohttp `content.iter_any()` / httpx `aiter_raw()`, what a relaying gateway does).

The client is pinned to CPU 1 and the upstream to CPU 0 (when sched_setaffinity exists), so
the figure is the client's CPU cost per request, not a fight over one core. At concurrency N
(default 64) we report requests/s (median of --repeats interleaved runs); at concurrency 1 the
per-request latency (p50/p99), on a fresh pool and on the pool the c64 runs left behind. Every
phase is bounded in time (--duration, --latency-duration, --warmup) and in request count.

  .venv/bin/python bench/http_client.py --duration 5 [--out bench/results/http_client.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import httpx
import orjson
import uvloop

SHARED_BENCH = Path(os.environ.get("POLYROUTE_SHARED_BENCH", "/work/shared/bench"))
sys.dont_write_bytecode = True  # the shared harness folder is not ours: leave no __pycache__ in it
sys.path.insert(0, str(SHARED_BENCH))
import fake_upstream  # noqa: E402  (same bytes as every other bench target)

UPSTREAM_CPU, CLIENT_CPU = 0, 1
CLIENTS = ("aiohttp", "httpx")
MODES = ("json", "sse")
SSE_CHUNKS = 20
SSE_EVENTS = SSE_CHUNKS + 1  # 20 chunk events + "data: [DONE]"
# Longer than a whole run: a pool that shrinks mid-run (idle connections expiring) would change
# what a later scenario measures, and httpx's per-request cost depends on how many it pools.
KEEPALIVE_S = 300
REQUEST_TIMEOUT_S = 10.0  # a stuck request is an error, never a hung benchmark
MAX_REQUESTS_PER_WORKER = 5_000_000  # hard bound on each loop on top of the deadline
NGINX_ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}


# ------------------------------------------------------------------------------------ upstream
class NginxUpstream:
    """The shared nginx template: constant responses, so the upstream costs ~nothing per request."""

    kind = "nginx"

    def __init__(self, port: int) -> None:
        self.port = port
        self.run_dir = Path(tempfile.mkdtemp(prefix="http-client-bench-"))
        self.proc: subprocess.Popen | None = None
        self.probes = 0

    def start(self) -> None:
        conf = self.run_dir / "upstream-nginx.conf"
        conf.write_text(self._render())
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.run_dir), "-e", str(self.run_dir / "err.log"), "-c", str(conf)],
            preexec_fn=lambda: pin(UPSTREAM_CPU),  # nginx forks its worker after this: it inherits
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _render(self) -> str:
        text = (SHARED_BENCH / "conf" / "upstream-nginx.conf.tmpl").read_text()
        # stub_status counts accepted TCP connections: how many the clients' pools really opened.
        text = text.replace(
            "location = /health", "location = /nginx_status { stub_status; }\n    location = /health"
        )
        subs = {
            "RUN": str(self.run_dir),
            "PORT": str(self.port),
            "JSON": nginx_quote(fake_upstream.JSON_BODY),
            "MODELS": nginx_quote(fake_upstream.MODELS_BODY),
            **nginx_sse_sets(fake_upstream.sse_events(SSE_CHUNKS)),
        }
        for key, value in subs.items():
            text = text.replace(f"@{key}@", value)
        return text

    def connections_accepted(self) -> int:
        # Every status request opens a connection itself: count ours and leave them out.
        self.probes += 1
        body = http_get(self.port, "/nginx_status")
        return int(body.splitlines()[2].split()[0]) - self.probes

    def stop(self) -> None:
        stop_process_group(self.proc)
        shutil.rmtree(self.run_dir, ignore_errors=True)


class PythonUpstream:
    """Fallback when nginx is missing: the shared raw-asyncio server in a pinned child process."""

    kind = "python"

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.counter = Path(tempfile.mkstemp(prefix="http-client-bench-conns-")[1])
        self.probes = 0

    def start(self) -> None:
        # A child interpreter (not fork) so it never inherits this process's event loop.
        code = PYTHON_UPSTREAM_CHILD.format(
            shared=str(SHARED_BENCH), port=self.port, counter=str(self.counter)
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], preexec_fn=lambda: pin(UPSTREAM_CPU), start_new_session=True
        )

    def connections_accepted(self) -> int:
        # The probe opens a connection, so the child has counted it before it answers.
        self.probes += 1
        http_get(self.port, "/health")
        return int(self.counter.read_text() or 0) - self.probes

    def stop(self) -> None:
        stop_process_group(self.proc)
        self.counter.unlink(missing_ok=True)


# Counts accepted connections into a file: the parent reads it between phases (no shared memory needed).
PYTHON_UPSTREAM_CHILD = """
import asyncio, sys, uvloop
sys.dont_write_bytecode = True
sys.path.insert(0, {shared!r})
import fake_upstream
up = fake_upstream.Upstream(0.0, 0.0, 20)
seen = 0
async def counted(reader, writer):
    global seen
    seen += 1
    with open({counter!r}, "w") as f:
        f.write(str(seen))
    await up.handle(reader, writer)
async def main():
    srv = await asyncio.start_server(counted, "127.0.0.1", {port}, backlog=4096, reuse_address=True)
    async with srv:
        await srv.serve_forever()
uvloop.run(main())
"""


def nginx_quote(text: str) -> str:
    """Text for a single-quoted nginx string (`return 200 '...'`)."""
    assert "'" not in text and "$" not in text
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def nginx_sse_sets(events: list[str], limit: int = 3000) -> dict[str, str]:
    """Split the SSE body into `set $sseN '...';` pieces: nginx caps one config token at 4 KiB."""
    parts, current = [], ""
    for event in events:
        if current and len(nginx_quote(current + event)) > limit:
            parts.append(current)
            current = ""
        current += event
    parts.append(current)
    sets = " ".join(f"set $sse{i} '{nginx_quote(p)}';" for i, p in enumerate(parts))
    return {"SSE_SETS": sets, "SSE_VARS": "".join(f"$sse{i}" for i in range(len(parts)))}


def make_upstream(kind: str, port: int) -> NginxUpstream | PythonUpstream:
    nginx_ok = shutil.which("nginx") is not None and NGINX_ECHO_MODULE.exists()
    if kind == "nginx" or (kind == "auto" and nginx_ok):
        return NginxUpstream(port)
    return PythonUpstream(port)


def http_get(port: int, path: str, timeout: float = 2.0) -> str:
    """A blocking one-shot GET with Connection: close; only used outside the timed phases."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"upstream GET {path}: {head[:60]!r}")
    return body.decode()


def wait_ready(port: int, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            http_get(port, "/health", timeout=0.5)
            return
        except (OSError, RuntimeError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def stop_process_group(proc: subprocess.Popen | None) -> None:
    """Stop only the group we started (its own session), TERM then KILL."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def tree_cpu_seconds(root_pid: int) -> float | None:
    """user+sys CPU of a process and its children (nginx master + worker); None off Linux."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, pids = 0, {root_pid}
    try:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(entry.name) in pids or int(fields[1]) in pids:  # fields[1] is the ppid
                    total += int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return None
    return total / ticks


# ------------------------------------------------------------------------------------ clients
class AiohttpClient:
    """Configured like polyroute's transport: one session, one TCPConnector keep-alive pool."""

    name = "aiohttp"

    def __init__(self, base_url: str, pool_size: int) -> None:
        self.url = base_url + "/v1/chat/completions"
        self.pool_size = pool_size
        connector = aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=KEEPALIVE_S)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            skip_auto_headers=("User-Agent",),
        )

    async def post_json(self, body: bytes) -> None:
        async with self.session.post(self.url, data=body, headers=HEADERS) as response:
            check_json(response.status, await response.read())

    async def post_sse(self, body: bytes) -> None:
        async with self.session.post(self.url, data=body, headers=HEADERS) as response:
            counter = SSECounter(response.status)
            async for chunk in response.content.iter_any():
                counter.feed(chunk)
            counter.check()

    def pooled_connections(self) -> int | None:
        """Open connections, idle and in use (private attributes: a diagnostic, None if they move)."""
        connector = self.session.connector
        try:
            return sum(len(c) for c in connector._conns.values()) + len(connector._acquired)
        except AttributeError:
            return None

    async def aclose(self) -> None:
        await self.session.close()


class HttpxClient:
    """httpx's own pool sized like aiohttp's, HTTP/1.1, keep-alive."""

    name = "httpx"

    def __init__(self, base_url: str, pool_size: int) -> None:
        self.url = base_url + "/v1/chat/completions"
        self.pool_size = pool_size
        limits = httpx.Limits(
            max_connections=pool_size, max_keepalive_connections=pool_size, keepalive_expiry=KEEPALIVE_S
        )
        # trust_env=False: a proxy variable in the environment must not reroute loopback traffic.
        self.client = httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_S, trust_env=False)

    async def post_json(self, body: bytes) -> None:
        response = await self.client.post(self.url, content=body, headers=HEADERS)
        check_json(response.status_code, response.content)

    async def post_sse(self, body: bytes) -> None:
        async with self.client.stream("POST", self.url, content=body, headers=HEADERS) as response:
            counter = SSECounter(response.status_code)
            async for chunk in response.aiter_raw():
                counter.feed(chunk)
            counter.check()

    def pooled_connections(self) -> int | None:
        """Open connections, idle and in use (httpx's transport is private: None if it moves)."""
        try:
            return len(self.client._transport._pool.connections)
        except AttributeError:
            return None

    async def aclose(self) -> None:
        await self.client.aclose()


def make_client(name: str, base_url: str, pool_size: int) -> AiohttpClient | HttpxClient:
    return {"aiohttp": AiohttpClient, "httpx": HttpxClient}[name](base_url, pool_size)


def check_json(status: int, data: bytes) -> None:
    # Parsing is part of the work a gateway does, and proves the whole body arrived.
    if status != 200 or orjson.loads(data)["choices"][0]["message"]["content"] != fake_upstream.CONTENT:
        raise ValueError(f"bad JSON response (status {status})")


class SSECounter:
    """Counts events (blank-line ends) across chunk borders: proves the stream was read to [DONE]."""

    __slots__ = ("status", "events", "tail")

    def __init__(self, status: int) -> None:
        self.status, self.events, self.tail = status, 0, b""

    def feed(self, chunk: bytes) -> None:
        joined = self.tail + chunk
        self.events += joined.count(b"\n\n")
        self.tail = joined[-1:] if joined.endswith(b"\n") and not joined.endswith(b"\n\n") else b""

    def check(self) -> None:
        if self.status != 200 or self.events != SSE_EVENTS:
            raise ValueError(f"bad SSE stream (status {self.status}, {self.events} events)")


# ------------------------------------------------------------------------------------ load
@dataclass
class Phase:
    scenario: str  # what the pool held: "c64", "c1 fresh pool", "c1 after c64"
    client: str
    mode: str
    concurrency: int
    repeat: int  # -1: warm-up, kept only for the connections it opened
    elapsed_s: float = 0.0
    ok: int = 0
    errors: int = 0
    error_sample: str = ""
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    client_cpu_us_per_req: float = 0.0
    client_cpu_util: float = 0.0
    upstream_cpu_util: float | None = None
    new_upstream_connections: int = 0
    pooled_connections: int | None = None  # in the client's pool when the phase ended
    latencies: list[float] = field(default_factory=list, repr=False)


def request_bodies() -> dict[str, bytes]:
    base = {
        "model": fake_upstream.MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16,
    }
    return {"json": orjson.dumps(base), "sse": orjson.dumps({**base, "stream": True})}


async def worker(op, body: bytes, deadline: float, phase: Phase) -> None:
    """Closed loop: next request as soon as the last one ends, until the deadline (or the cap)."""
    for _ in range(MAX_REQUESTS_PER_WORKER):
        start = time.perf_counter()
        if start >= deadline:
            return
        try:
            await op(body)
        except Exception as exc:  # every failure is counted, none stops the run
            phase.errors += 1
            phase.error_sample = phase.error_sample or f"{type(exc).__name__}: {exc}"[:200]
            continue
        phase.latencies.append(time.perf_counter() - start)
        phase.ok += 1


async def run_phase(
    scenario: str, client, upstream, mode: str, concurrency: int, duration: float, repeat: int
) -> Phase:
    phase = Phase(scenario, client.name, mode, concurrency, repeat)
    op = client.post_json if mode == "json" else client.post_sse
    body = request_bodies()[mode]
    conns0, up_cpu0 = upstream.connections_accepted(), tree_cpu_seconds(upstream.proc.pid)
    cpu0, t0 = time.process_time(), time.perf_counter()
    workers = [worker(op, body, t0 + duration, phase) for _ in range(concurrency)]
    # Watchdog: requests time out after REQUEST_TIMEOUT_S, so this never fires unless something is broken.
    await asyncio.wait_for(asyncio.gather(*workers), duration + REQUEST_TIMEOUT_S + 5)
    phase.elapsed_s = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    up_cpu1 = tree_cpu_seconds(upstream.proc.pid)
    phase.new_upstream_connections = upstream.connections_accepted() - conns0
    phase.pooled_connections = client.pooled_connections()
    summarize(phase, cpu, None if up_cpu0 is None or up_cpu1 is None else up_cpu1 - up_cpu0)
    return phase


def summarize(phase: Phase, client_cpu: float, upstream_cpu: float | None) -> None:
    phase.rps = phase.ok / phase.elapsed_s
    if phase.latencies:
        lat = sorted(phase.latencies)
        phase.p50_ms = lat[len(lat) // 2] * 1e3
        phase.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
    phase.client_cpu_us_per_req = client_cpu / max(phase.ok, 1) * 1e6
    phase.client_cpu_util = client_cpu / phase.elapsed_s
    if upstream_cpu is not None:
        phase.upstream_cpu_util = upstream_cpu / phase.elapsed_s


async def run_loaded(args, upstream, clients: dict, phases: list[Phase]) -> None:
    """Concurrency N: throughput, median of interleaved repeats."""
    scenario = f"c{args.concurrency}"
    for client in clients.values():  # warm-up: fills each pool to N connections
        for mode in MODES:
            phases.append(
                await run_phase(scenario, client, upstream, mode, args.concurrency, args.warmup, -1)
            )
    for repeat in range(args.repeats):
        # Alternate who goes first so slow drift of a shared VM does not favour one client.
        order = list(clients.values()) if repeat % 2 == 0 else list(clients.values())[::-1]
        for mode in MODES:
            for client in order:
                phases.append(
                    await run_phase(scenario, client, upstream, mode, args.concurrency, args.duration, repeat)
                )
                log(phases[-1])


async def run_single(
    args, upstream, clients: dict, scenario: str, phases: list[Phase], warmup: float
) -> None:
    """Concurrency 1: the latency of one request with no queueing in front of it."""
    for client in clients.values():
        for mode in MODES:
            if warmup:
                phases.append(await run_phase(scenario, client, upstream, mode, 1, warmup, -1))
            phases.append(await run_phase(scenario, client, upstream, mode, 1, args.latency_duration, 0))
            log(phases[-1])


async def run_all(args, upstream, base_url: str) -> list[Phase]:
    phases: list[Phase] = []
    loaded = {name: make_client(name, base_url, args.concurrency) for name in args.clients}
    # A second client per library whose pool never held more than one connection: httpcore's pool
    # does work per pooled connection on every request, so c1 right after a burst (N idle
    # connections) and c1 on a quiet pool are different figures; we report both.
    quiet = {name: make_client(name, base_url, args.concurrency) for name in args.clients}
    try:
        await run_single(args, upstream, quiet, "c1 fresh pool", phases, args.warmup)
        await run_loaded(args, upstream, loaded, phases)
        await run_single(args, upstream, loaded, f"c1 after c{args.concurrency}", phases, 0)
    finally:
        for client in [*loaded.values(), *quiet.values()]:
            await client.aclose()
    return phases


# ------------------------------------------------------------------------------------ report
def summary_rows(phases: list[Phase]) -> list[dict]:
    """One row per (scenario, mode, client): the median run by req/s, so all its figures agree."""
    rows = []
    phases = [p for p in phases if p.repeat >= 0]  # warm-up runs are not figures
    # Loaded scenario first, then the c1 ones in run order (sorted() is stable).
    scenarios = sorted(dict.fromkeys(p.scenario for p in phases), key=lambda sc: sc.startswith("c1 "))
    keys = [(sc, m, c) for sc in scenarios for m in MODES for c in CLIENTS]
    for key in keys:
        runs = sorted((p for p in phases if (p.scenario, p.mode, p.client) == key), key=lambda p: p.rps)
        if not runs:
            continue
        median = runs[(len(runs) - 1) // 2]
        row = {k: v for k, v in asdict(median).items() if k not in ("latencies", "repeat")}
        row.update(
            rps=statistics.median(p.rps for p in runs),
            runs_rps=[round(p.rps) for p in runs],
            errors=sum(p.errors for p in runs),
            ok=sum(p.ok for p in runs),
            new_upstream_connections=sum(p.new_upstream_connections for p in runs),
        )
        rows.append(row)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    out = []
    for scenario, mode in dict.fromkeys((r["scenario"], r["mode"]) for r in rows):
        by = {r["client"]: r for r in rows if (r["scenario"], r["mode"]) == (scenario, mode)}
        if {"aiohttp", "httpx"} <= by.keys():
            a, h = by["aiohttp"], by["httpx"]
            out.append(
                {
                    "scenario": scenario,
                    "mode": mode,
                    "rps_aiohttp_over_httpx": a["rps"] / h["rps"],
                    "p50_httpx_over_aiohttp": h["p50_ms"] / a["p50_ms"],
                    "cpu_per_req_httpx_over_aiohttp": h["client_cpu_us_per_req"] / a["client_cpu_us_per_req"],
                }
            )
    return out


def markdown(rows: list[dict], ratio_rows: list[dict], pool_size: int, total_conns: dict[str, int]) -> str:
    lines = [
        "| scenario | client | mode | req/s (median) | runs req/s | p50 ms | p99 ms | client CPU µs/req "
        "| client CPU | upstream CPU | new upstream conns | pooled conns | errors |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        up = "n/a" if r["upstream_cpu_util"] is None else f"{r['upstream_cpu_util']:.0%}"
        lines.append(
            f"| {r['scenario']} | {r['client']} | {r['mode']} | {r['rps']:,.0f} | "
            f"{', '.join(f'{x:,}' for x in r['runs_rps'])} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
            f"{r['client_cpu_us_per_req']:.0f} | {r['client_cpu_util']:.0%} | {up} | "
            f"{r['new_upstream_connections']} | {r['pooled_connections']} | {r['errors']} |"
        )
    lines += [
        "",
        "| scenario | mode | req/s aiohttp/httpx | p50 httpx/aiohttp | CPU per req httpx/aiohttp |",
        "|---|---|---:|---:|---:|",
    ]
    for r in ratio_rows:
        lines.append(
            f"| {r['scenario']} | {r['mode']} | {r['rps_aiohttp_over_httpx']:.2f}x | "
            f"{r['p50_httpx_over_aiohttp']:.2f}x | {r['cpu_per_req_httpx_over_aiohttp']:.2f}x |"
        )
    conns = ", ".join(f"{k} {v}" for k, v in total_conns.items())
    lines += [
        "",
        f"Pool limit per client: {pool_size}. TCP connections the upstream accepted per library "
        f"(both of its clients, warm-up included): {conns}.",
    ]
    return "\n".join(lines)


def environment(args, upstream, loop_type: str) -> dict:
    cpu_model = platform.processor()
    with contextlib.suppress(OSError):
        models = [
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu_model = models[0] if models else cpu_model
    packages = ("aiohttp", "httpx", "httpcore", "h11", "anyio", "uvloop", "orjson", "yarl", "multidict")
    return {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "python": platform.python_version(),
        "versions": {p: importlib.metadata.version(p) for p in packages},
        "event_loop": loop_type,
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        # What the OS actually applied, not what we asked for.
        "client_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "upstream_affinity": (
            sorted(os.sched_getaffinity(upstream.proc.pid)) if hasattr(os, "sched_getaffinity") else None
        ),
        "upstream": upstream.kind,
        "params": {k: v for k, v in vars(args).items() if k != "out"},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# ------------------------------------------------------------------------------------ main
def pin(cpu: int) -> None:
    """Pin the calling process to one CPU if the OS lets us and the CPU exists; otherwise run unpinned."""
    if hasattr(os, "sched_setaffinity") and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


def log(phase: Phase) -> None:
    print(
        f"  {phase.scenario:14} {phase.client:8} {phase.mode:4} run {phase.repeat}: "
        f"{phase.rps:9,.0f} req/s "
        f"p50 {phase.p50_ms:7.3f} ms  errors {phase.errors}",
        file=sys.stderr,
        flush=True,
    )


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=64, help="concurrent tasks and pool size (default 64)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measured phase (default 5)")
    ap.add_argument("--latency-duration", type=float, default=3.0, help="seconds per concurrency-1 phase")
    ap.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of discarded warm-up per client and mode"
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs per client and mode; median reported"
    )
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma list from: aiohttp,httpx")
    ap.add_argument(
        "--upstream",
        choices=("auto", "nginx", "python"),
        default="auto",
        help="auto: nginx (zero-cost, needs nginx-light + echo module) else the Python fake upstream",
    )
    ap.add_argument("--port", type=int, default=18101)
    ap.add_argument("--out", default="bench/results/http_client.json")
    args = ap.parse_args()
    args.clients = [c for c in args.clients.split(",") if c]
    if not set(args.clients) <= set(CLIENTS) or args.concurrency < 1 or args.repeats < 1:
        ap.error("bad --clients, --concurrency or --repeats")
    return args


def main() -> None:
    args = parse_args()
    upstream = make_upstream(args.upstream, args.port)
    upstream.start()
    try:
        wait_ready(args.port)
        pin(CLIENT_CPU)  # after starting the upstream, so only this process moves to CPU 1
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            loop_type = type(runner.get_loop()).__module__ + "." + type(runner.get_loop()).__name__
            conns_before = upstream.connections_accepted()
            phases = runner.run(run_all(args, upstream, f"http://127.0.0.1:{args.port}"))
            env = environment(args, upstream, loop_type)  # while the upstream still runs: its affinity
    finally:
        upstream.stop()
    report(args, env, phases, conns_before)


def report(args, env: dict, phases: list[Phase], conns_before: int) -> None:
    rows = summary_rows(phases)
    ratio_rows = ratios(rows)
    total_conns = {c: sum(p.new_upstream_connections for p in phases if p.client == c) for c in args.clients}
    table = markdown(rows, ratio_rows, args.concurrency, total_conns)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "environment": env,
        "summary": rows,
        "ratios": ratio_rows,
        "connections_before_clients": conns_before,  # readiness probes, not the clients
        "phases": [{k: v for k, v in asdict(p).items() if k != "latencies"} for p in phases],
        "markdown": table,
    }
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
