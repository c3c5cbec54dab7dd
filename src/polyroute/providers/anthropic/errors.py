"""Anthropic error answers -> the gateway's error tree.

Anthropic's body is `{"type":"error","error":{"type","message"},"request_id"}`; the class comes
from the documented `error.type` (falling back to the HTTP status), never from free text, with
one documented exception: an `invalid_request_error` whose message says the prompt is too long
is the context-window error the router's context_window_fallbacks look for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from polyroute.errors import (
    AuthenticationError,
    ConflictError,
    ContextWindowExceededError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
    error_for_upstream_status,
)
from polyroute.providers.base import retry_after_from_headers

PROVIDER = "anthropic"

#: documented `error.type` values (docs.claude.com/en/api/errors)
ERROR_TYPES: dict[str, type[GatewayError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "billing_error": PermissionDeniedError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "conflict_error": ConflictError,
    "request_too_large": PayloadTooLargeError,
    "rate_limit_error": RateLimitError,
    "api_error": UpstreamError,
    "timeout_error": UpstreamTimeoutError,
    "overloaded_error": ServiceUnavailableError,
}

# Anthropic's wording for a prompt over the model's context window, e.g.
# "prompt is too long: 208310 tokens > 200000 maximum", and for input + max_tokens over it.
_CONTEXT_WINDOW_PHRASES = ("prompt is too long", "input length and `max_tokens` exceed context limit")


def map_anthropic_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """The gateway error for a non-2xx answer from /v1/messages."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    return error_from_payload(payload, status, headers)


def error_from_payload(
    payload: Any, status: int | None, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """Also used for an in-stream `event: error`, where the HTTP status (200) says nothing."""
    err = payload.get("error") if isinstance(payload, dict) else None
    err_type = err.get("type") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    if not isinstance(message, str) or not message:
        message = (
            f"{PROVIDER} returned HTTP {status}" if status else f"{PROVIDER} reported an error mid-stream"
        )

    cls = ERROR_TYPES.get(err_type) if isinstance(err_type, str) else None
    if cls is None:
        cls = error_for_upstream_status(status) if status and status >= 400 else UpstreamError
    if cls is InvalidRequestError and any(p in message.lower() for p in _CONTEXT_WINDOW_PHRASES):
        cls = ContextWindowExceededError

    retry_after = retry_after_from_headers(headers) if headers else None
    error = cls(message, retry_after=retry_after, provider=PROVIDER)
    if err_type == "billing_error":
        error.code = "insufficient_quota"
    return error
