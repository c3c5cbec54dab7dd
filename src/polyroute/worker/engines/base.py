"""What an engine gives the worker's HTTP server."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass
class EngineResponse:
    status: int
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # SSE bytes, when the answer is a stream
    content_type: str = "application/json"


def openai_error(
    status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"
) -> EngineResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return EngineResponse(status, orjson.dumps(body))


DEFAULT_MAX_TOKENS = 256  # a local engine's answer length when the request names none


@dataclass(frozen=True)
class ChatArgs:
    """What a local engine takes from a chat request, checked once for every engine."""

    messages: list[Any]
    max_tokens: int
    stops: list[str]
    stream: bool
    include_usage: bool


def chat_args(body: dict[str, Any]) -> ChatArgs | EngineResponse:
    """The request's generation arguments, or the 400 that names the offending field."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return openai_error(400, "messages must be a non-empty list", param="messages")
    if (body.get("n") or 1) != 1:
        return openai_error(400, "this worker generates one choice per request", param="n")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return openai_error(400, "max_tokens must be a positive integer", param="max_tokens")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str) and s]
    return ChatArgs(
        messages,
        max_tokens,
        stops,
        bool(body.get("stream")),
        bool((body.get("stream_options") or {}).get("include_usage")),
    )


DEFAULT_CONTEXT_LENGTH = 2048  # FastChat's figure for a model whose config names none
CHARS_PER_TOKEN = 4


class Engine(ABC):
    name: str = "engine"
    supports_embeddings: bool = False
    # What FastChat's /model_details reports; engines that know their model set it in start().
    context_length: int = DEFAULT_CONTEXT_LENGTH

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` (FastChat's /count_token); an estimate where there is no tokenizer."""
        return -(-len(text) // CHARS_PER_TOKEN)

    async def start(self) -> None:
        """Load the model / open connections (before the worker registers)."""
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def chat(self, body: dict[str, Any]) -> EngineResponse: ...

    async def completions(self, body: dict[str, Any]) -> EngineResponse:
        """The legacy /v1/completions (engines/completions.py has the shared parts)."""
        return openai_error(400, f"the {self.name} engine does not serve completions", param="model")

    async def embeddings(self, body: dict[str, Any]) -> EngineResponse:
        return openai_error(400, f"the {self.name} engine does not serve embeddings", param="model")
