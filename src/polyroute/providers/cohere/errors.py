"""Cohere error answers -> the gateway's error tree.

Cohere's error body is `{"id": "...", "message": "..."}` with no type or code: the class follows
the HTTP status, documented as 400 bad request, 401 unauthorized, 402 payment required, 404 not
found, 422 unprocessable, 429 too many requests, 498 invalid token, 499 request cancelled, 500,
503 and 504. One 400 needs more than its status: a prompt or max_tokens over the model's limits,
whose documented messages all begin with "too many tokens".
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from polyroute.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UpstreamError,
    UpstreamTimeoutError,
    error_for_upstream_status,
)
from polyroute.providers.base import retry_after_from_headers

PROVIDER = "cohere"

_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: PermissionDeniedError,  # payment required: the account, not the request
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    498: AuthenticationError,  # invalid token
    499: UpstreamError,  # cancelled upstream
    500: UpstreamError,
    503: ServiceUnavailableError,
    504: UpstreamTimeoutError,
}


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    message = message_of(body) or f"cohere returned HTTP {status}"
    cls = _BY_STATUS.get(status) or error_for_upstream_status(status)
    if status == 400 and message.lower().startswith("too many tokens"):
        cls = ContextWindowExceededError
    return cls(message, retry_after=retry_after_from_headers(headers), provider=PROVIDER)


def message_of(body: bytes) -> str | None:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return None
