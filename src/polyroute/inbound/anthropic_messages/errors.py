"""Gateway errors in Anthropic's shape: `{"type":"error","error":{"type","message"},"request_id"}`.

The `error.type` comes from the HTTP status, as Anthropic's does (docs.claude.com/en/api/errors);
the status itself stays the error's own, so the `anthropic` SDK raises the class it maps that
status to (BadRequestError, RateLimitError, OverloadedError, ...).
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import GatewayError

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_payload(error: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(error.status), "message": error.message}}


def error_body(error: GatewayError, request_id: str | None) -> bytes:
    payload = error_payload(error)
    payload["request_id"] = request_id
    return orjson.dumps(payload)


def error_event(error: GatewayError) -> bytes:
    """The in-stream `event: error` Anthropic ends a broken stream with."""
    return b"event: error\ndata: " + orjson.dumps(error_payload(error)) + b"\n\n"
