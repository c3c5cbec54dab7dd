"""Protocol-faithful fake upstreams: real HTTP servers on loopback, scripted per request.

Each fake runs an aiohttp web app on its own event loop in a background thread, so tests may
drive the gateway with blocking SDK clients. A test scripts what the next requests get with
`fake.script(...)`; unscripted requests get the fake's default reply. Every request received is
recorded (`fake.requests`) with its path, headers, query and parsed JSON body.

Behaviours (provider-neutral; each fake renders them in its own wire format):
  Reply(text=..., tool_calls=[...], finish=..., usage=...)   a normal answer, streamed if asked
  Error(status, type=..., message=..., headers=...)           the provider's real error body
  Delay before the first byte (`ttfb`), between stream events (`chunk_delay`)
  gate=threading.Event(), gate_after=N   hold the reply until the test sets the event: a stream
                    after N events (0: before its headers), an answer before it is sent (OpenAI fake)
  drop_after=N      close the connection after N stream events (no end marker)
  stall_after=N     stop sending after N stream events, keep the connection open
  error_after=N     send the provider's in-stream error event after N events
  malformed=True    a 200 whose body is not valid JSON
  content_encoding="gzip"|"deflate"   the body (or the whole stream) sent compressed (OpenAI fake)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass
class Reply:
    text: str | None = "Hello from the fake upstream."
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str | None = None  # provider-native reason; None: the natural one
    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    model: str | None = None
    ttfb: float = 0.0
    chunk_delay: float = 0.0
    chunks: int | None = None  # split the text into this many stream pieces (default: per word)
    drop_after: int | None = None
    stall_after: int | None = None
    error_after: int | None = None
    malformed: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific fields to merge
    raw_body: bytes | None = None  # exact non-stream body to send (OpenAI fake)
    raw_events: list[bytes] | None = None  # exact SSE events to send (OpenAI fake)
    content_encoding: str | None = None  # "gzip" or "deflate": what the fake compresses with
    gate: threading.Event | None = None  # held until the test sets it (OpenAI fake)
    gate_after: int = 0  # stream events sent before the gate is waited on

    def pieces(self) -> list[str]:
        text = self.text or ""
        if not text:
            return []
        if self.chunks:
            size = max(1, -(-len(text) // self.chunks))
            return [text[i : i + size] for i in range(0, len(text), size)]
        words = text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


@dataclass
class Error:
    status: int
    type: str | None = None  # provider-native error type/status; None: the natural one
    message: str = "fake upstream error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ttfb: float = 0.0
    body: bytes | None = None  # exact body override


Behaviour = Reply | Error


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] | None = None  # client address: one per TCP connection

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeUpstream:
    """Base: subclasses add routes in `routes()` and render behaviours."""

    default: Behaviour

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.cancelled = 0  # requests whose client went away before the reply finished
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = free_port()
        self.default = Reply()

    # -- scripting ---------------------------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.cancelled = 0
            self.default = Reply()

    @property
    def connections(self) -> int:
        """Distinct TCP connections the recorded requests came on (keep-alive reuse shows here)."""
        return len({r.peer for r in self.requests})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- server ------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        rec = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            tuple(peer[:2]) if peer else None,
        )
        with self._lock:
            self.requests.append(rec)
        return rec

    def handler(self, fn: Callable[[web.Request, RecordedRequest], Awaitable[web.StreamResponse]]):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            rec = await self._record(request)
            try:
                return await fn(request, rec)
            except (asyncio.CancelledError, ConnectionResetError):
                with self._lock:
                    self.cancelled += 1
                raise

        return wrapped

    def start(self) -> FakeUpstream:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.add_routes(self.routes())
            self._runner = web.AppRunner(
                app, handle_signals=False, access_log=None, handler_cancellation=True
            )
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- helpers for subclasses -------------------------------------------------------------------


def compress(data: bytes, encoding: str) -> bytes:
    """`data` as a server sends it with `Content-Encoding: encoding` (gzip or zlib-wrapped deflate)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def compressed_events(events: list[bytes], encoding: str, piece: int = 16 * 1024) -> list[bytes]:
    """A whole stream compressed as one body, cut into pieces the fake writes one by one."""
    packed = compress(b"".join(events), encoding)
    return [packed[i : i + piece] for i in range(0, len(packed), piece)]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, headers=headers, content_type="application/json"
    )


async def wait_gate(gate: threading.Event) -> None:
    """Waits for the test thread to set `gate` without taking an executor thread per held reply
    (a test may hold more replies than the default executor has threads)."""
    while not gate.is_set():
        await asyncio.sleep(0.005)


async def stream_events(
    request: web.Request,
    events: list[bytes],
    reply: Reply,
    error_event: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send pre-encoded SSE events with the reply's delays, drops, stalls and in-stream error."""
    if reply.ttfb:
        await asyncio.sleep(reply.ttfb)
    if reply.gate is not None and reply.gate_after == 0:
        await wait_gate(reply.gate)
    response = web.StreamResponse(
        status=200, headers={"Content-Type": "text/event-stream", **(headers or {})}
    )
    response.headers["Cache-Control"] = "no-cache"
    await response.prepare(request)
    for i, event in enumerate(events):
        if reply.drop_after is not None and i >= reply.drop_after:
            # Abrupt close: no end marker, connection torn down.
            transport = request.transport
            if transport is not None:
                transport.abort()
            return response
        if reply.stall_after is not None and i >= reply.stall_after:
            await asyncio.sleep(3600)
        if reply.error_after is not None and i >= reply.error_after and error_event is not None:
            await response.write(error_event)
            await response.write_eof()
            return response
        if i and reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
        if reply.gate is not None and i and i == reply.gate_after:
            await wait_gate(reply.gate)
        await response.write(event)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
