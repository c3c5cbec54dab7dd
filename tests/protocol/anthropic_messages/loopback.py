"""A tiny real HTTP server on loopback that answers every request with scripted bytes, so the
`anthropic` SDK parses exactly what the Messages codec wrote (status, headers, body or SSE)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic


@dataclass
class Canned:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("content-length") or 0)
        self.server.received.append(self.rfile.read(length))
        canned = self.server.answers.popleft()
        self.send_response(canned.status)
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(canned.body)))
        self.end_headers()
        self.wfile.write(canned.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: deque[Canned] = deque()
        self.received: list[bytes] = []


@contextmanager
def serving(*answers: Canned) -> Iterator[tuple[anthropic.Anthropic, _Server]]:
    """An SDK client (no retries) pointed at a server that answers with `answers` in turn."""
    server = _Server()
    server.answers.extend(answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = anthropic.Anthropic(
        api_key="sk-ant-loopback-test", base_url=f"http://127.0.0.1:{server.server_port}", max_retries=0
    )
    try:
        yield client, server
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join()


def sse(body: bytes) -> Canned:
    return Canned(200, body, {"content-type": "text/event-stream", "cache-control": "no-cache"})
