"""YandexGPT error answers -> the gateway's error tree.

Yandex Cloud's REST front end answers errors as `{"error": {"grpcCode", "httpCode", "message",
"httpStatus", "details"}}`; a streamed answer that fails after it started sends the same object
as one JSON line. The class follows the gRPC code (the HTTP status where it is missing). A prompt
over the model's context is `INVALID_ARGUMENT` whose message says the number of input tokens
"must be no more than" the limit: the one case read from the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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
    UpstreamError,
    UpstreamTimeoutError,
    error_for_upstream_status,
)
from polyroute.providers.base import retry_after_from_headers

PROVIDER = "yandexgpt"

#: gRPC status code -> gateway error (google.rpc.Code numbering, which Yandex Cloud uses)
_BY_GRPC_CODE: dict[int, type[GatewayError]] = {
    3: InvalidRequestError,  # INVALID_ARGUMENT
    4: UpstreamTimeoutError,  # DEADLINE_EXCEEDED
    5: NotFoundError,
    7: PermissionDeniedError,
    8: RateLimitError,  # RESOURCE_EXHAUSTED: quota or rate limit
    9: InvalidRequestError,  # FAILED_PRECONDITION
    11: InvalidRequestError,  # OUT_OF_RANGE
    13: UpstreamError,  # INTERNAL
    14: ServiceUnavailableError,  # UNAVAILABLE
    16: AuthenticationError,  # UNAUTHENTICATED
}
_CONTEXT_TOO_LONG = re.compile(r"input tokens must be no more than", re.IGNORECASE)


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        cls = error_for_upstream_status(status)
        return cls(
            f"yandexgpt returned HTTP {status}",
            retry_after=retry_after_from_headers(headers),
            provider=PROVIDER,
        )
    return error_from_object(error, status, headers)


def error_from_object(
    error: dict[str, Any], status: int | None = None, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """The gateway error for one Yandex Cloud error object (an answer's or a stream line's)."""
    message = str(error.get("message") or f"yandexgpt returned HTTP {status or error.get('httpCode')}")
    code = error.get("grpcCode")
    cls = _BY_GRPC_CODE.get(code) if isinstance(code, int) else None
    if cls is None:
        http = status or (error.get("httpCode") if isinstance(error.get("httpCode"), int) else 502)
        cls = error_for_upstream_status(http)
    if cls is InvalidRequestError and _CONTEXT_TOO_LONG.search(message):
        cls = ContextWindowExceededError
    return cls(message, retry_after=retry_after_from_headers(headers or {}), provider=PROVIDER)
