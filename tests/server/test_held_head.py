"""A whole answer leaves in one send (its head held until its body), while a stream's head still
leaves before its first event (server/connections.py HeldHeadTransport).

The real uvicorn request cycle runs on the real protocol; the test only counts the writes that
reach the socket's transport."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from polyroute.server.connections import GuardedHttpToolsProtocol, HeldHeadTransport
from tests.fakes.base import free_port

DEADLINE_S = 10.0  # only reached when the server fails to answer


class RecordingTransport:
    """Stands for the socket's transport: records what reaches it."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        if self.inner is not None:
            self.inner.write(data)

    def close(self) -> None:
        self.closed = True
        if self.inner is not None:
            self.inner.close()

    def is_closing(self) -> bool:
        return self.closed if self.inner is None else self.inner.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_head_and_a_body_of_one_turn_are_one_write() -> None:
    socket_side = RecordingTransport()
    transport = HeldHeadTransport(socket_side, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.hold_next()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert socket_side.writes == []
    transport.write(b"{}")
    assert socket_side.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    await asyncio.sleep(0)  # the turn's end sends nothing more
    assert socket_side.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


async def test_a_head_alone_leaves_when_the_turn_ends_and_nothing_overtakes_it() -> None:
    socket_side = RecordingTransport()
    transport = HeldHeadTransport(socket_side, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.hold_next()
    transport.write(b"HEAD")
    await asyncio.sleep(0)
    assert socket_side.writes == [b"HEAD"]
    transport.write(b"chunk-1")  # only a response's head is held
    assert socket_side.writes == [b"HEAD", b"chunk-1"]


async def test_close_sends_a_held_head_first() -> None:
    socket_side = RecordingTransport()
    transport = HeldHeadTransport(socket_side, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.hold_next()
    transport.write(b"HEAD")
    transport.close()
    assert (socket_side.writes, socket_side.closed) == ([b"HEAD"], True)


# -- through uvicorn's own request cycle on polyroute's protocol -----------------------------------
SOCKET_WRITES: list[bytes] = []


class CountingProtocol(GuardedHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(RecordingTransport(transport))  # type: ignore[arg-type]
        SOCKET_WRITES.clear()
        self._writer._transport.writes = SOCKET_WRITES  # type: ignore[attr-defined]


RELEASE_STREAM = threading.Event()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/answer":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
    )
    await asyncio.to_thread(RELEASE_STREAM.wait, DEADLINE_S)  # the first event waits on the client
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http=CountingProtocol, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    yield port
    running.should_exit = True
    RELEASE_STREAM.set()
    thread.join(DEADLINE_S)


def ask(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_a_whole_answer_reaches_the_socket_in_one_write(server: int) -> None:
    with ask(server, "/answer") as sock:
        answer = read_until(sock, b"{}")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n{}")
    assert SOCKET_WRITES == [answer]


def test_a_streams_head_leaves_before_its_first_event(server: int) -> None:
    RELEASE_STREAM.clear()
    with ask(server, "/stream") as sock:
        head = read_until(sock, b"\r\n\r\n")  # the app is still waiting: only the head can come
        assert b"transfer-encoding: chunked" in head
        RELEASE_STREAM.set()
        rest = read_until(sock, b"0\r\n\r\n")
    assert b"data: [DONE]" in rest
    assert len(SOCKET_WRITES) == 2
