"""Mistral AI's own API (api.mistral.ai): OpenAI's wire shape with Mistral's rules.

Answers and stream chunks are OpenAI's and are relayed as they are; requests go through
`request.build_body` (renamed and unsent fields, nine-character tool-call ids), errors through
`errors.map_error` (Mistral's bodies, the refused field named). Embeddings (`mistral-embed`,
`codestral-embed`) are OpenAI-shaped too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from polyroute.errors import GatewayError
from polyroute.providers.base import ProviderCall, WireRequest
from polyroute.providers.mistral.errors import map_error
from polyroute.providers.mistral.request import SUPPORTED_CHAT_PARAMS, build_body, embeddings_body
from polyroute.providers.mistral.spec import SPEC
from polyroute.providers.openai_compat import OpenAICompatibleAdapter


class MistralAdapter(OpenAICompatibleAdapter):
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def __init__(self) -> None:
        super().__init__(SPEC)

    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        wire = build_body(call.model, call.defaults, body)
        if "safe_prompt" in call.extras and "safe_prompt" not in wire:
            wire["safe_prompt"] = bool(call.extras["safe_prompt"])  # the deployment's guardrail
        return WireRequest(
            self.endpoint_url(call, "chat/completions"), self.headers(call), orjson.dumps(wire)
        )

    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        wire = embeddings_body(call.model, call.defaults, body)
        return WireRequest(self.endpoint_url(call, "embeddings"), self.headers(call), orjson.dumps(wire))

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_error(status, body, headers)
