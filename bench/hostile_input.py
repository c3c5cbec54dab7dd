"""Bounded replays of issue 13's attacks against a real `polyroute serve`, with the gateway's RSS
and open file descriptors read from /proc before and after each.

    .venv/bin/python bench/hostile_input.py [--src DIR] [--out FILE]

`--src` runs another checkout's source (say an older commit unpacked with `git archive`) with
this virtual environment, so the same inputs can be compared before and after a change. Every
input is bounded (16 MB of header, 32 MB of announced body, 1,500 sockets, 1,000 workers); a
fixed gateway answers most of them long before they end.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

MASTER = "sk-hostile-bench-master-0123456789"
TOKEN = "wt-hostile-bench-0123456789abcdef"
CONFIG = f"""
model_list:
  - model_name: mock-gpt
    litellm_params: {{model: mock/mock-gpt}}
general_settings:
  master_key: {MASTER}
  header_timeout_s: 2
  max_connections: 1000
controller_settings:
  worker_tokens: [{{token: {TOKEN}}}]
  allowed_worker_addresses: ['http://127\\.0\\.0\\.1:\\d+']
  max_workers: 2000
  max_workers_per_token: 2000
  max_registrations_per_minute: 1000000
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def start(src: str | None, folder: Path) -> tuple[subprocess.Popen, int]:
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    port = free_port()
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(folder / "data")}
    if src:
        env["PYTHONPATH"] = src
    process = subprocess.Popen(
        [sys.executable, "-m", "polyroute", "serve", "--config", str(config), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/liveness").status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gateway did not start")


def stream_until_closed(port: int, head: bytes, filler: bytes, total: int) -> dict:
    """Sends `head`, then `filler` repeatedly up to `total` bytes or until the server stops
    reading; returns how much went out, the status line and the time taken."""
    started = time.monotonic()
    sent = 0
    status = ""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            sent = len(head)
            while sent < total:
                sock.sendall(filler)
                sent += len(filler)
            sock.settimeout(30)
        except OSError:
            pass
        try:
            status = sock.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            status = f"({type(exc).__name__})"
    return {
        "sent_mb": round(sent / 2**20, 1),
        "status": status,
        "seconds": round(time.monotonic() - started, 2),
    }


def measure(name: str, pid: int, work) -> dict:
    before = rss_mb(pid)
    result = work()
    after = rss_mb(pid)
    return {"attack": name, "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1), **result}


def huge_header(port: int) -> dict:
    head = b"GET /health/liveness HTTP/1.1\r\nhost: x\r\nx-big: "
    return stream_until_closed(port, head, b"a" * 65536, 16 * 2**20)


def many_headers(port: int) -> dict:
    head = b"GET /health/liveness HTTP/1.1\r\nhost: x\r\n"
    line = b"".join(b"x-h%d: v\r\n" % i for i in range(5000))
    return stream_until_closed(port, head, line, 200_000 * 10)


def unauthenticated_admin_body(port: int) -> dict:
    announced = 300 * 2**20
    head = (
        f"POST /key/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {announced}\r\n\r\n"
    ).encode()
    return stream_until_closed(port, head, b"a" * 65536, 32 * 2**20)


def unauthenticated_worker_body(port: int) -> dict:
    head = (
        b"POST /register_worker HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 33554000\r\n\r\n"
    )
    return stream_until_closed(port, head, b"a" * 65536, 33_554_000)


def half_open_connections(port: int, pid: int, count: int = 1500) -> dict:
    sockets = []
    fds_before = open_fds(pid)
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /health/liveness HTTP/1.1\r\nhost: x\r\n")  # never finished
            sockets.append(sock)
        except OSError:
            break
    time.sleep(0.5)  # a measurement, not a test: let the server accept what it will
    fds_during = open_fds(pid)
    started = time.monotonic()
    waiting = {sock.fileno(): sock for sock in sockets}
    closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        while waiting and time.monotonic() - started < 20:  # the old gateway never closes them
            for key, _ in selector.select(timeout=1):
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    waiting.pop(key.fd, None)
                    closed += 1
    waited = time.monotonic() - started
    fds_after = open_fds(pid)
    for sock in sockets:
        sock.close()
    return {
        "opened": len(sockets),
        "server_fds_before": fds_before,
        "server_fds_during": fds_during,
        "closed_by_server": closed,
        "seconds_until_all_closed": round(waited, 1),
        "server_fds_after": fds_after,
    }


def registry(port: int, workers: int = 1000) -> dict:
    headers = {"authorization": f"Bearer {TOKEN}"}
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        for i in range(workers):
            body = {
                "worker_name": f"http://127.0.0.1:{30000 + i}",
                "worker_status": {"model_names": ["vicuna"], "speed": 1, "queue_length": 0},
            }
            started = time.perf_counter()
            client.post("/register_worker", json=body)
            times.append(time.perf_counter() - started)
        chat = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {MASTER}"}, timeout=60
        )
        quiet = []
        for _ in range(20):
            started = time.perf_counter()
            chat.post(
                "/v1/chat/completions",
                json={"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]},
            )
            quiet.append(time.perf_counter() - started)
        flooding = threading.Event()
        flooding.set()

        def flood(offset: int) -> None:  # re-registrations of live workers, as fast as they go
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as own:
                i = offset
                while flooding.is_set():
                    body = {
                        "worker_name": f"http://127.0.0.1:{30000 + i % workers}",
                        "worker_status": {"model_names": ["vicuna"], "speed": 1, "queue_length": i % 7},
                    }
                    own.post("/register_worker", json=body)
                    i += 4

        threads = [threading.Thread(target=flood, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        flooded = []
        for _ in range(20):
            started = time.perf_counter()
            chat.post(
                "/v1/chat/completions",
                json={"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]},
            )
            flooded.append(time.perf_counter() - started)
        flooding.clear()
        for thread in threads:
            thread.join()
    return {
        "chat_ms_median_during_reregistration_flood": round(statistics.median(flooded) * 1000, 2),
        "workers": workers,
        "first_100_registrations_ms_median": round(statistics.median(times[:100]) * 1000, 2),
        "last_100_registrations_ms_median": round(statistics.median(times[-100:]) * 1000, 2),
        "chat_ms_median_with_1000_workers": round(statistics.median(quiet) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", help="a checkout's src/ folder to run instead of this one")
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        process, port = start(args.src, Path(folder))
        try:
            pid = process.pid
            results.append({"attack": "idle", "rss_mb": round(rss_mb(pid), 1), "server_fds": open_fds(pid)})
            results.append(measure("16 MB header", pid, lambda: huge_header(port)))
            results.append(measure("200,000 headers", pid, lambda: many_headers(port)))
            results.append(
                measure("300 MB POST /key/generate, no key", pid, lambda: unauthenticated_admin_body(port))
            )
            results.append(
                measure(
                    "32 MB POST /register_worker, no token", pid, lambda: unauthenticated_worker_body(port)
                )
            )
            results.append(measure("1,500 half-sent heads", pid, lambda: half_open_connections(port, pid)))
            results.append(measure("1,000 worker registrations", pid, lambda: registry(port)))
        finally:
            process.terminate()
            process.wait(30)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
