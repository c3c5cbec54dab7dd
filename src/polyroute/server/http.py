"""The gateway's raw ASGI request: polyroute/asgi.py's request plus the caller and its account.

A whole answer is journaled before it starts and its limits settled before its body leaves; a
stream is journaled before its last bytes (server/accounting.py says why).
"""

from __future__ import annotations

from typing import Any

from polyroute.asgi import (
    MAX_HEADER_VALUE,
    AsgiRequest,
    ClientGone,
    Receive,
    Scope,
    Send,
    header_value,
)
from polyroute.auth.context import AuthContext
from polyroute.errors import GatewayError

__all__ = ["MAX_HEADER_VALUE", "ClientGone", "Receive", "Request", "Scope", "Send", "header_value"]


class Request(AsgiRequest):
    __slots__ = ("auth", "principal", "account", "rate_headers", "worker_token", "protocol", "encoder")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope, receive, send)
        self.auth: AuthContext | None = None  # set by authentication (auth/context.py)
        self.principal: Any = None  # auth.principal.Principal once authenticated
        self.account: Any = None  # server.accounting.RequestAccount on the model routes
        # The caller's own rate-limit headers, on every answer (protocol/rate_limit_headers.py).
        self.rate_headers: list[tuple[bytes, bytes]] = []
        self.worker_token: Any = None  # controller.settings.WorkerToken on the worker routes
        # The model route's inbound protocol (inbound/base.py): the shape of its errors; and
        # the running stream's encoder, whose error event ends a stream broken after its start.
        self.protocol: Any = None
        self.encoder: Any = None

    async def respond_error(self, error: GatewayError) -> None:
        if self.protocol is None:
            body = error.to_body(self.request_id)
        else:
            body = self.protocol.error_body(error, self.request_id)
        await self.respond(error.status, body, error.response_headers())

    def stream_error(self, error: GatewayError) -> bytes:
        """The event that ends this request's stream with `error`, in its protocol's shape."""
        if self.encoder is not None:
            return self.encoder.error(error, self.request_id)
        if self.protocol is not None:
            return self.protocol.stream_error(error, self.request_id)
        return b"data: " + error.to_body(self.request_id) + b"\n\n"

    def _headers(self, extra: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-request-id", self.request_id.encode())]
        if self.rate_headers:
            headers.extend(self.rate_headers)
        if extra:
            headers.extend((k.encode(), header_value(v)) for k, v in extra.items())
        return headers

    async def _before_answer(self) -> None:
        if self.account is not None:
            await self.account.journal()  # billed before the client has its answer's last byte

    async def _answer_started(self) -> None:
        if self.account is not None:  # a whole answer: its cost is known before its body leaves
            await self.account.settle_limits()
