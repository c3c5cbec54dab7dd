"""Gemini error answers -> the gateway's error tree.

Gemini errors are google.rpc.Status objects: `{"error": {"code": <http status>, "message",
"status": <RPC status name>, "details": [...]}}`. The class follows the RPC status; two cases
need more than the status, both documented: a bad API key is `400 INVALID_ARGUMENT` with an
ErrorInfo detail of reason `API_KEY_INVALID`, and a prompt over the context window is
`400 INVALID_ARGUMENT` whose only marker is the message "The input token count (N) exceeds the
maximum number of tokens allowed (M)."
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

PROVIDER = "gemini"

_BY_RPC_STATUS: dict[str, type[GatewayError]] = {
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "INTERNAL": UpstreamError,
    "UNKNOWN": UpstreamError,
    "CANCELLED": UpstreamError,
    "UNAVAILABLE": ServiceUnavailableError,
    "DEADLINE_EXCEEDED": UpstreamTimeoutError,
}

_TOKEN_LIMIT = re.compile(
    r"input token count.*exceeds the maximum number of tokens", re.IGNORECASE | re.DOTALL
)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """The gateway error for a Gemini HTTP error answer."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    # streamGenerateContent without alt=sse wraps even its error in a JSON array.
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        cls = error_for_upstream_status(status)
        return cls(
            f"gemini returned HTTP {status}", retry_after=retry_after_from_headers(headers), provider=PROVIDER
        )
    return error_from_status(error, status, headers)


def error_from_status(
    error: dict[str, Any], status: int | None = None, headers: Mapping[str, str] | None = None
):
    """The gateway error for one google.rpc.Status object (an error answer or an in-stream frame)."""
    headers = headers or {}
    code = error.get("code") if isinstance(error.get("code"), int) else status
    rpc_status = str(error.get("status") or "")
    message = str(error.get("message") or f"gemini returned {rpc_status or f'HTTP {code}'}")
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    cls = _classify(rpc_status, code, message, details)
    retry_after = None
    if cls is RateLimitError or cls.retryable:
        retry_after = _retry_delay(details)
        if retry_after is None:
            retry_after = retry_after_from_headers(headers)
    return cls(message, retry_after=retry_after, provider=PROVIDER)


def _classify(
    rpc_status: str, code: int | None, message: str, details: list[dict[str, Any]]
) -> type[GatewayError]:
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        return AuthenticationError
    cls = _BY_RPC_STATUS.get(rpc_status)
    if cls is None:
        cls = error_for_upstream_status(code) if isinstance(code, int) and code >= 400 else UpstreamError
    if cls is InvalidRequestError and _TOKEN_LIMIT.search(message):
        return ContextWindowExceededError
    return cls


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            return parse_duration(detail.get("retryDelay"))
    return None


def parse_duration(value: Any) -> float | None:
    """Seconds from a protobuf JSON Duration ("12s", "1.5s"); None when it is not one."""
    if isinstance(value, dict):  # the proto form {seconds, nanos}, seen from some clients
        return float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return float(match.group(1)) if match else None
