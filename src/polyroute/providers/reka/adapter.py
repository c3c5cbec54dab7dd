"""The Reka adapter: Reka's chat API (api.reka.ai/v1/chat), streamed (SSE) and not, with images
and tools. The key travels in `X-Api-Key`, as Reka's SDK sends it. Errors are FastAPI's
`{"detail": ...}` (a string, or for a refused body a list of `{"loc", "msg", "type"}` whose field
becomes the OpenAI error's `param`), classed by status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from polyroute.errors import GatewayError, error_for_upstream_status
from polyroute.providers.base import (
    ProviderAdapter,
    ProviderCall,
    StreamTranslator,
    WireRequest,
    retry_after_from_headers,
)
from polyroute.providers.reka.request import SUPPORTED_CHAT_PARAMS, build_body
from polyroute.providers.reka.response import PROVIDER, RekaStreamTranslator, to_chat_completion
from polyroute.providers.reka.spec import SPEC


class RekaAdapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        request = {**call.defaults, **body} if call.defaults else body
        headers = {"content-type": "application/json", **call.extra_headers}
        if stream:
            headers["accept"] = "text/event-stream"
        if call.api_key:
            headers["x-api-key"] = call.api_key.reveal()
        base = (call.api_base or self.default_api_base or "").rstrip("/")
        return WireRequest(base + "/chat", headers, orjson.dumps(build_body(call.model, request, stream)))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        return to_chat_completion(data, call.model)

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return RekaStreamTranslator(call.model)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        message, param = detail_of(body)
        cls = error_for_upstream_status(status)
        return cls(
            message or f"reka returned HTTP {status}",
            param=param,
            retry_after=retry_after_from_headers(headers),
            provider=PROVIDER,
        )


def detail_of(body: bytes) -> tuple[str | None, str | None]:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, None
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, str):
        return detail, None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        location = [str(p) for p in detail[0].get("loc") or [] if p != "body"]
        field = ".".join(location) or None
        messages = [str(d.get("msg")) for d in detail if isinstance(d, dict)]
        return f"{field}: {'; '.join(messages)}" if field else "; ".join(messages), field
    return None, None
