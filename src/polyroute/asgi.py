"""The raw ASGI types and request helper, shared by the gateway and the model worker.

Hot routes skip a framework's request objects: the body is read with a size cap, parsed once
with orjson, and responses are sent as prepared bytes. A leaf module (errors and the JSON depth
check only): the model worker uses it without importing the gateway's server package, and the
gateway's own request (server/http.py) adds what it needs on top (the caller, the account).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson

from polyroute.errors import GatewayError, InvalidRequestError, PayloadTooLargeError
from polyroute.protocol.validate import check_depth

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_TYPE = (b"content-type", b"application/json")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
MAX_HEADER_VALUE = 512  # characters of one response header value, after escaping


class _RequestIds:
    """Ids unique across processes and restarts without a system call per request: a random
    per-process prefix (renewed in a forked child) and a counter."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = "req_" + os.urandom(8).hex()
        self.counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):08x}"


new_request_id = _RequestIds()


class ClientGone(Exception):
    """The client disconnected before its request was read."""


class AsgiRequest:
    """One HTTP request: its few wanted headers decoded once, a capped body read, byte answers.

    Subclasses hook the two moments an answer's bookkeeping needs (`_before_answer`: before the
    response starts; `_answer_started`: after the start, before a whole answer's body) and add
    headers of their own (`_headers`)."""

    __slots__ = (
        "scope",
        "receive",
        "send",
        "request_id",
        "headers",
        "started",
        "finished",
        "disconnected",
        "delivered",
        "raw_body",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.request_id = new_request_id()
        # Only the few headers the gateway reads, decoded once.
        self.headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in WANTED_HEADERS:
                self.headers[name.decode()] = value.decode("latin-1")
        self.started = False  # response start sent
        self.finished = False
        self.disconnected = False
        # The client has every byte it needs (a stream's end marker went out); a client that
        # leaves now, before the stream's formal end, did not cancel anything.
        self.delivered = False
        self.raw_body: bytes | None = None  # a JSON body's bytes (a native pass-through sends them)

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    async def read_body(self, limit: int) -> bytes:
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(f"request body is larger than the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"request body is larger than the limit of {limit} bytes")
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def read_json(self, limit: int, max_depth: int, keep_raw: bool = False) -> dict[str, Any]:
        """The body parsed once; its bytes kept (`raw_body`) only when asked, since a large body
        would otherwise be held twice for the whole request."""
        raw = await self.read_body(limit)
        if keep_raw:
            self.raw_body = raw
        if not raw:
            raise InvalidRequestError("request body is empty; expected a JSON object", code="invalid_json")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestError(
                f"request body is not valid JSON: {exc.msg} at position {exc.pos}", code="invalid_json"
            ) from None
        if not isinstance(body, dict):
            raise InvalidRequestError("request body must be a JSON object", code="invalid_json")
        # Nesting cannot be deeper than the number of opening brackets: count them in C first.
        if raw.count(b"{") + raw.count(b"[") > max_depth:
            check_depth(body, max_depth)
        return body

    def _headers(self, extra: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-request-id", self.request_id.encode())]
        if extra:
            headers.extend((k.encode(), header_value(v)) for k, v in extra.items())
        return headers

    async def _before_answer(self) -> None:
        """Before a whole answer or a stream's last bytes go out (nothing here)."""

    async def _answer_started(self) -> None:
        """After a whole answer's response start, before its body (nothing here)."""

    async def respond(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: tuple[bytes, bytes] = JSON_TYPE,
    ) -> None:
        out = self._headers(headers)
        out.append(content_type)
        await self._before_answer()
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": out})
        await self._answer_started()
        self.finished = True
        await self.send({"type": "http.response.body", "body": body})

    async def respond_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        await self.respond(status, orjson.dumps(payload), headers)

    async def respond_error(self, error: GatewayError) -> None:
        await self.respond(error.status, error.to_body(self.request_id), error.response_headers())

    async def start_stream(self, headers: dict[str, str] | None = None) -> None:
        out = self._headers(headers)
        out.extend(SSE_HEADERS)
        self.started = True
        await self.send({"type": "http.response.start", "status": 200, "headers": out})

    async def write(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end_stream(self, data: bytes = b"") -> None:
        await self._before_answer()
        self.finished = True
        await self.send({"type": "http.response.body", "body": data})


def header_value(text: str) -> bytes:
    """A response header value that every client accepts: visible ASCII as is; anything else
    (non-ASCII letters of a model name, a control character that would end the header line and
    make the server drop the connection) percent-encoded; bounded in length."""
    if not (text.isascii() and text.isprintable()):
        text = quote(text, safe=_VISIBLE_ASCII)
    if len(text) > MAX_HEADER_VALUE:
        text = text[:MAX_HEADER_VALUE]
    return text.encode("ascii")


_VISIBLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")

WANTED_HEADERS = {
    b"authorization",
    b"x-api-key",
    b"api-key",
    b"x-litellm-api-key",  # LiteLLM's own key header (its clients send it beside their own auth)
    b"content-length",
    b"content-type",
    b"x-request-id",
    b"traceparent",  # W3C Trace Context, for OpenTelemetry traces (observability/tracing.py)
    b"tracestate",
    b"anthropic-beta",  # passed on to Anthropic deployments by /v1/messages
    b"anthropic-version",
}
