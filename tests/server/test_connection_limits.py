"""Header size, header count, header time and connection count are bounded before a request
reaches the app (server/connections.py), with raw sockets against a real gateway.

Each test uses inputs just over a small configured limit; waits are on the server's answer (a
blocking read with a deadline), never sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import orjson
import pytest

from polyroute.config.loader import load_config
from polyroute.observability.metrics import METRICS
from polyroute.server.app import create_app
from polyroute.server.state import AppState
from tests.gateway import GatewayServer

MASTER = "sk-connection-limits-master-0123456789"
HEADER_LIMIT = 2048
COUNT_LIMIT = 20
READ_DEADLINE_S = 20.0  # only ever reached when the server fails to answer


def limits_config(**general: object) -> dict[str, object]:
    return {
        "model_list": [{"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}}],
        "general_settings": {
            "master_key": MASTER,
            "max_header_size_kb": HEADER_LIMIT // 1024,
            "max_header_count": COUNT_LIMIT,
            **general,
        },
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[GatewayServer]:
    config = limits_config(header_timeout_s=1.0, keep_alive_timeout_s=1.0)
    with GatewayServer(config, tmp_path_factory.mktemp("limits")) as server:
        yield server


def connect(server: GatewayServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=READ_DEADLINE_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


def shed_count(reason: str) -> float:
    return METRICS.connections_shed.values.get((reason,), 0.0)


def request_head(extra: bytes = b"") -> bytes:
    return b"GET /health/liveness HTTP/1.1\r\nhost: 127.0.0.1\r\n" + extra + b"\r\n"


def test_headers_within_the_limits_are_served(gateway):
    with connect(gateway) as sock:
        padding = b"x-pad: " + b"a" * (HEADER_LIMIT - 200) + b"\r\n"
        sock.sendall(request_head(padding))
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200")


def test_a_post_whose_body_arrives_with_its_head_is_not_taken_for_a_large_head(gateway):
    # Head and body in one read: only the bytes before the head's end count against the limit.
    body = orjson.dumps({"model": "mock-gpt", "messages": [{"role": "user", "content": "b" * 8000}]})
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + MASTER.encode() + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )
    with connect(gateway) as sock:
        sock.sendall(request)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_a_head_over_the_size_limit_is_answered_431_and_closed(gateway):
    before = shed_count("header_too_large")
    with connect(gateway) as sock:
        # Just over the limit and never finished: the server must not wait for the rest.
        sock.sendall(b"GET /health/liveness HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * HEADER_LIMIT)
        status, body = status_and_body(read_until_closed(sock))
    assert status == 431
    assert body["error"]["code"] == "header_too_large"
    assert shed_count("header_too_large") == before + 1


def test_more_headers_than_the_limit_are_answered_431(gateway):
    before = shed_count("too_many_headers")
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(COUNT_LIMIT))  # with host: one too many
    with connect(gateway) as sock:
        sock.sendall(request_head(many))
        status, body = status_and_body(read_until_closed(sock))
    assert status == 431 and body["error"]["code"] == "too_many_headers"
    assert shed_count("too_many_headers") == before + 1
    with connect(gateway) as sock:  # one fewer is served
        sock.sendall(request_head(many[: many.rindex(b"x-h")]))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_half_sent_head_is_closed_after_the_header_timeout(gateway, caplog):
    before = shed_count("header_timeout")
    caplog.set_level(logging.WARNING, logger="polyroute.server")
    with connect(gateway) as sock:
        sock.sendall(b"GET /health/liveness HTTP/1.1\r\nhost: x\r\n")  # no blank line: never finished
        status, body = status_and_body(read_until_closed(sock))
    assert status == 408 and body["error"]["code"] == "header_timeout"
    assert shed_count("header_timeout") == before + 1
    assert any("connection shed: reason=header_timeout" in r.getMessage() for r in caplog.records)


def test_a_connection_that_sends_nothing_is_closed_too(gateway):
    with connect(gateway) as sock:
        status, _ = status_and_body(read_until_closed(sock))
    assert status == 408


def test_idle_keep_alive_connections_are_closed(gateway):
    with connect(gateway) as sock:
        sock.sendall(request_head())
        answer = read_until_closed(sock)  # answered, then closed after keep_alive_timeout_s
    # Closed quietly by the keep-alive timer: one answer, no 408 after it.
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1 ") == 1


def test_connections_over_the_cap_are_answered_503_at_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="polyroute.server")
    config = limits_config(max_connections=3, header_timeout_s=60)
    with GatewayServer(config, tmp_path) as server:
        held = [connect(server) for _ in range(3)]
        try:
            # The server accepts in order: once it answers on the third, the first three are open.
            held[2].sendall(request_head())
            assert held[2].recv(65536).startswith(b"HTTP/1.1 200")
            assert server.state.connections.open == 3
            before = shed_count("connection_limit")
            with connect(server) as extra:
                status, body = status_and_body(read_until_closed(extra))
            assert status == 503 and body["error"]["code"] == "connection_limit"
            assert shed_count("connection_limit") == before + 1
        finally:
            for sock in held:
                sock.close()
        assert any("reason=connection_limit" in r.getMessage() for r in caplog.records)
        # Closed connections free their places.
        with connect(server) as again:
            again.sendall(request_head())
            assert again.recv(65536).startswith(b"HTTP/1.1 200")


async def test_the_app_refuses_oversized_headers_from_any_server(tmp_path):
    """The same bounds in the ASGI app, for servers other than polyroute's own protocol."""
    loaded = load_config(None, {"POLYROUTE_DATA_DIR": str(tmp_path)})
    app = create_app(AppState.build(loaded, open_access=True))
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    big = [(b"x-big", b"a" * loaded.limits.max_header_bytes)]
    many = [(b"x-h%d" % i, b"v") for i in range(loaded.limits.max_header_count + 1)]
    for headers, code in ((big, "header_too_large"), (many, "too_many_headers")):
        sent.clear()
        scope = {"type": "http", "method": "GET", "path": "/health/liveness", "headers": headers}
        await app(scope, receive, send)
        assert sent[0]["status"] == 431
        assert orjson.loads(sent[1]["body"])["error"]["code"] == code
