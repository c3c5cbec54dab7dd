"""One HTTP call of a guardrail to its service, through the gateway's pooled upstream client
(its answer-size bounds included). The engine bounds the time; this turns failures into
`GuardrailFailure` naming the service and status, never a key or the content sent."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import GatewayError
from polyroute.guardrails.base import GuardrailFailure
from polyroute.providers.base import WireRequest


async def post(http: Any, service: str, url: str, headers: dict[str, str], body: bytes) -> bytes:
    """The body of a 2xx answer; anything else is a GuardrailFailure."""
    try:
        response = await http.send(WireRequest(url, headers, body))
        try:
            data = await response.read()
        finally:
            response.close()
    except GatewayError as exc:  # connection refused, answer too large, ...
        raise GuardrailFailure(f"{service}: {exc.code or exc.type}") from None
    if not 200 <= response.status < 300:
        raise GuardrailFailure(f"{service} answered HTTP {response.status}")
    return data


async def post_json(
    http: Any, service: str, url: str, headers: dict[str, str], payload: Any, raw: bytes | None = None
) -> dict[str, Any]:
    data = await post(
        http, service, url, {"content-type": "application/json", **headers}, raw or orjson.dumps(payload)
    )
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise GuardrailFailure(f"{service} answered with a body that is not JSON") from None
    if not isinstance(parsed, dict):
        raise GuardrailFailure(f"{service} answered with JSON that is not an object")
    return parsed
