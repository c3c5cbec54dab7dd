"""NVIDIA NIM (integrate.api.nvidia.com and self-hosted NIM containers): OpenAI's API with NIM's
documented differences.

* Params per model (`params.py`): the documented models that take fewer params refuse (or, with
  drop_params, lose) the others before any call.
* `max_completion_tokens` is sent as `max_tokens` (the name NIM's API reference uses).
* `temperature: 0` is sent as 1e-6, as FastChat does ("nvidia api does not accept 0 temperature"):
  still greedy in effect.
* Errors come in three shapes: NVIDIA's cloud functions answer RFC 7807 problem details
  (`{"type", "title", "status", "detail"}`), NIM containers vLLM's `{"object": "error",
  "message", "type", "code"}`, their front end FastAPI's `{"detail": ...}`; the message is read
  from each, and vLLM's "maximum context length" message is a context-window error.
* Embeddings take NIM's `input_type` (`query`/`passage`, required by asymmetric models such as
  nv-embedqa) and `truncate` as extra body fields, passed through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from polyroute.errors import ContextWindowExceededError, GatewayError, error_for_upstream_status
from polyroute.providers.base import ProviderCall, WireRequest, retry_after_from_headers
from polyroute.providers.nvidia_nim.params import supported_params
from polyroute.providers.nvidia_nim.spec import PROVIDER, SPEC
from polyroute.providers.openai_compat import OpenAICompatibleAdapter

GREEDY_TEMPERATURE = 1e-6
_CONTEXT_TOO_LONG = re.compile(r"maximum context length", re.IGNORECASE)


class NvidiaNimAdapter(OpenAICompatibleAdapter):
    def __init__(self) -> None:
        super().__init__(SPEC)

    def chat_params(self, call: ProviderCall) -> frozenset[str]:
        return supported_params(call.model)

    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        request = {**call.defaults, **body} if call.defaults else dict(body)
        if "max_completion_tokens" in request:
            request["max_tokens"] = request.pop("max_completion_tokens")
        if request.get("temperature") == 0:
            request["temperature"] = GREEDY_TEMPERATURE
        request["model"] = call.model
        return WireRequest(
            self.endpoint_url(call, "chat/completions"), self.headers(call), orjson.dumps(request)
        )

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        message = message_of(body) or f"nvidia_nim returned HTTP {status}"
        cls = error_for_upstream_status(status)
        if status == 400 and _CONTEXT_TOO_LONG.search(message):
            cls = ContextWindowExceededError
        return cls(message, retry_after=retry_after_from_headers(headers), provider=PROVIDER)


def message_of(body: bytes) -> str | None:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    for key in ("message", "detail", "title"):  # vLLM, problem details / FastAPI, problem title
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return "; ".join(str(item.get("msg")) for item in value if isinstance(item, dict))
    return None
