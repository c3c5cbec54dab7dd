"""Bounds on what a peer can hold before it has sent one complete request header.

uvicorn with httptools reads headers of any size and count (httptools concatenates a header's
value in memory as it arrives), waits for them forever, and accepts connections until the
process runs out of file descriptors. `GuardedHttpToolsProtocol` is uvicorn's httptools
protocol with the four bounds a hardened server has:

* header bytes: the bytes fed to the parser while a request's head is incomplete are counted;
  past `max_header_bytes` the request is answered 431 and the connection closed, so the parser
  never holds more than the limit plus one socket read;
* header count: the header past `max_header_count` stops the parser (431);
* header time: a connection that has not completed a request head `header_timeout_s` after it
  opened (or after a new request's first byte) is answered 408 and closed; idle keep-alive
  connections close after `keep_alive_timeout_s` (uvicorn's own timer);
* connections: past `max_connections` open in this process, a new connection is answered 503
  and closed at once, so its file descriptor is freed before it can pile up.

The limits come from the app through the ASGI lifespan state (`LIFESPAN_KEY`): uvicorn hands
that state to every protocol it creates, in `--workers N` processes too. Each shed connection
counts in polyroute_connections_shed_total{reason}; a warning is logged at most once per
`LOG_EVERY_S` per reason, with the count since the last one, so a flood cannot flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from polyroute.config.server_limits import ServerLimits
from polyroute.observability.metrics import METRICS

log = logging.getLogger("polyroute.server")

LIFESPAN_KEY = "polyroute.connections"
LOG_EVERY_S = 10.0
PROTOCOL_PATH = "polyroute.server.connections:GuardedHttpToolsProtocol"  # for uvicorn's `http`
# The scope entry through which the app learns at once that its client left: the app puts a
# callback there, called from `connection_lost` while the response is unfinished. Present (None)
# in every scope this protocol makes, so the app knows it needs no watcher of its own.
ON_DISCONNECT = "polyroute.on_disconnect"

_SHED_ANSWERS = {
    # reason: (status, OpenAI error type, message)
    "header_too_large": (431, "invalid_request_error", "request headers are larger than the limit"),
    "too_many_headers": (431, "invalid_request_error", "request has more headers than the limit"),
    "header_timeout": (408, "invalid_request_error", "request headers were not completed in time"),
    "connection_limit": (503, "service_unavailable", "too many open connections; retry shortly"),
}


class ConnectionGuard:
    """One process's connection limits, open-connection count and shed log."""

    def __init__(self, limits: ServerLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.open = 0
        # While the process stops gracefully (server/shutdown.py): every answer says
        # `Connection: close`, so keep-alive clients move to another process before this one
        # closes their idle connections under them.
        self.draining = False
        # Set by the app: (method, URL) -> a whole response for a request refused from its head
        # alone (a shed model request, server/load.py), or None to hand it to the app.
        self.early_answer: Callable[[bytes, bytes], bytes | None] | None = None
        self._clock = clock
        self._unlogged: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}

    def shed(self, reason: str, peer: str) -> None:
        METRICS.connections_shed.inc((reason,))
        pending = self._unlogged.get(reason, 0) + 1
        now = self._clock()
        last = self._logged_at.get(reason)
        if last is not None and now - last < LOG_EVERY_S:
            self._unlogged[reason] = pending
            return
        self._unlogged[reason] = 0
        self._logged_at[reason] = now
        log.warning(
            "connection shed: reason=%s peer=%s count=%d (since the last such line) open=%d",
            reason,
            peer,
            pending,
            self.open,
        )


def _answer(reason: str, limit: int | float) -> bytes:
    status, kind, message = _SHED_ANSWERS[reason]
    body = orjson.dumps(
        {"error": {"message": f"{message} ({limit:g})", "type": kind, "param": None, "code": reason}}
    )
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _NoEvent:
    def set(self) -> None:
        pass


class _Answered:
    """Stands in for uvicorn's request cycle of a request answered from its head: complete, so
    uvicorn's body callbacks drop the rest of its body and the next request starts at once."""

    response_complete = True
    disconnected = False
    keep_alive = True
    message_event = _NoEvent()


_ANSWERED = _Answered()


class HeldHeadTransport:
    """The connection's transport, holding a response's head until its body or the loop turn's end.

    uvicorn writes a response's status line and headers, then its body, as two writes, and
    uvloop sends each at once: two send calls (and two TCP segments) for every whole answer. The
    head is held instead: a body written in the same turn of the event loop (a whole answer is)
    leaves with it in one send; otherwise the head goes out alone when the turn ends, so a
    stream's client still gets its headers before the first event. Every write goes through
    here, so nothing overtakes a held head."""

    __slots__ = ("_transport", "_loop", "_hold", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._hold = False  # the next write is a response's head
        self._held: bytes | None = None

    def hold_next(self) -> None:
        self._hold = True

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._hold:
            self._hold = False
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # pause_reading, set_protocol, ...: the transport's own
        return getattr(self._transport, name)


class _TooManyHeaders(Exception):
    """Raised from the parser's header callback to stop it at once."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, server_state, app_state, **kwargs)
        guard = app_state.get(LIFESPAN_KEY)
        # Without the app's lifespan (a bare uvicorn run) the defaults still bound everything.
        self.guard: ConnectionGuard = guard if guard is not None else ConnectionGuard(ServerLimits())
        self.limits = self.guard.limits
        self.timeout_keep_alive = self.limits.keep_alive_timeout_s
        self._reading_head = True  # between a request's first byte (or the connection) and its head's end
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._counted = False

    # -- connection ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._writer = HeldHeadTransport(transport, self.loop)
        super().connection_made(self._writer)  # type: ignore[arg-type]
        self.guard.open += 1
        self._counted = True
        if self.guard.open > self.limits.max_connections:
            self._shed("connection_limit", self.limits.max_connections)
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._counted:
            self._counted = False
            self.guard.open -= 1
        super().connection_lost(exc)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            callback = cycle.scope.get(ON_DISCONNECT)
            if callback is not None:
                callback()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._header_count > self.limits.max_header_count:
                self._shed("too_many_headers", self.limits.max_header_count)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._reading_head:
            # Counted after the parser saw it, so a read holding a whole head and the start of
            # its body is not refused; the parser's buffer is then at most the limit plus one read.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._shed("header_too_large", self.limits.max_header_bytes)

    # -- parser callbacks ---------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            raise _TooManyHeaders
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        if self._answered_early():
            return
        self.scope[ON_DISCONNECT] = None  # type: ignore[literal-required]  # see ON_DISCONNECT
        super().on_headers_complete()
        self._writer.hold_next()
        if self.guard.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # set before the app answers: uvicorn adds the header

    def _answered_early(self) -> bool:
        """A request the app refuses from its head alone (a shed one) is answered here, without
        uvicorn's request cycle, task and ASGI messages: under overload it is most requests, and
        the cheaper each refusal, the more of the core is left for the ones admitted. Only on a
        keep-alive connection with no answer in progress (the order of answers holds) and no
        `Expect: 100-continue` (the client waits, its body unsent); the rest of its body is
        read and dropped as uvicorn does for an answer sent before the body was read."""
        early = self.guard.early_answer
        if (
            early is None
            or self.guard.draining
            or self.expect_100_continue
            or (self.cycle is not None and not self.cycle.response_complete)
            or not self.parser.should_keep_alive()
        ):
            return False
        answer = early(self.parser.get_method(), self.url)
        if answer is None:
            return False
        self.cycle = _ANSWERED  # type: ignore[assignment]
        self.transport.write(answer)
        self.on_response_complete()
        return True

    # -- shedding -----------------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self._shed("header_timeout", self.limits.header_timeout_s)

    def _shed(self, reason: str, limit: int | float) -> None:
        self._cancel_head_timer()
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        self.guard.shed(reason, peer)
        self.transport.write(_answer(reason, limit))
        self.transport.close()


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """The uvicorn settings every gateway server shares (serve, controller, tests)."""
    return {
        "http": PROTOCOL_PATH,
        "timeout_keep_alive": limits.keep_alive_timeout_s,
        # uvicorn's h11 cap, for anyone who switches the protocol to h11.
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
    }
