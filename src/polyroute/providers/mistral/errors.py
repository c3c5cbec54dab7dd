"""Mistral error answers -> the gateway's error tree.

Mistral answers `{"object": "error", "message": ..., "type": ..., "param": ..., "code": ...}`.
`message` is a string, or for a request its validator refused (422) an object
`{"detail": [{"type", "loc": ["body", <field>...], "msg", "input"}]}`: the field named in `loc`
becomes the error's `param`, the `msg`s its message. Authentication failures are
`{"message": "Unauthorized", "request_id": ...}`. A prompt over the model's context is a 400 whose
message says it is "too large for model with N maximum context length".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from polyroute.errors import ContextWindowExceededError, GatewayError, error_for_upstream_status
from polyroute.providers.base import retry_after_from_headers

PROVIDER = "mistral"
_CONTEXT_TOO_LONG = re.compile(r"too large for model with \d+ maximum context length", re.IGNORECASE)


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    message, param = f"mistral returned HTTP {status}", None
    if isinstance(data, dict):
        message, param = _message_and_param(data.get("message"), message)
        if isinstance(data.get("param"), str):
            param = data["param"]
    cls = error_for_upstream_status(status)
    if status == 400 and _CONTEXT_TOO_LONG.search(message):
        cls = ContextWindowExceededError
    return cls(message, param=param, retry_after=retry_after_from_headers(headers), provider=PROVIDER)


def _message_and_param(value: Any, fallback: str) -> tuple[str, str | None]:
    if isinstance(value, str) and value:
        return value, None
    details = value.get("detail") if isinstance(value, dict) else None
    if not isinstance(details, list) or not details:
        return fallback, None
    parts, param = [], None
    for detail in details:
        if not isinstance(detail, dict):
            continue
        location = [str(p) for p in detail.get("loc") or [] if p != "body"]
        field = ".".join(location)
        param = param or field or None
        parts.append(f"{field}: {detail.get('msg')}" if field else str(detail.get("msg")))
    return "; ".join(parts) or fallback, param
