"""The mock provider's adapter and its in-process transport (an OpenAI-compatible server that
answers without any network I/O).

Every answer is bounded, whoever configured or sent what: at most `mock_max_output_tokens`
tokens per choice (the request's max_tokens when smaller; the gateway sets it to the model's
output maximum when a per-request `mock_response` stands in for a real model), MAX_CHOICES
choices, MAX_DIMENSIONS numbers per embedding, MAX_EMBEDDING_INPUTS inputs and MAX_NUMBERS
numbers per embeddings answer. A request over a bound is a 400 naming the field.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from polyroute.providers.base import ProviderCall, WireRequest
from polyroute.providers.mock import moderation, replies
from polyroute.providers.mock.errors import error_body, litellm_error
from polyroute.providers.mock.spec import SPEC
from polyroute.providers.openai_compat import OpenAICompatibleAdapter

DEFAULT_MAX_OUTPUT_TOKENS = 4096
MAX_CHOICES = 8
MAX_DIMENSIONS = 4096
MAX_EMBEDDING_INPUTS = 2048  # OpenAI's own limit per request
MAX_NUMBERS = 1 << 20  # about 20 MB of JSON in one embeddings answer


class MockAdapter(OpenAICompatibleAdapter):
    def __init__(self) -> None:
        super().__init__(SPEC)
        self._transport = MockTransport()

    def headers(self, call: ProviderCall) -> dict[str, str]:
        # The deployment's settings travel to the in-process upstream as one header.
        settings = {k: v for k, v in call.extras.items() if k.startswith("mock_")}
        return {"content-type": "application/json", "x-mock-settings": orjson.dumps(settings).decode()}

    def transport(self, http: Any = None) -> MockTransport:
        return self._transport


class MockResponse:
    def __init__(
        self, status: int, body: bytes | None, chunks: list[bytes] | None = None, chunk_delay: float = 0
    ) -> None:
        self.status = status
        self.headers: Mapping[str, str] = {
            "content-type": "text/event-stream" if chunks is not None else "application/json",
            "x-request-id": replies.new_id("req_mock"),
        }
        self._body = body or b""
        self._chunks = chunks or []
        self._chunk_delay = chunk_delay

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for i, chunk in enumerate(self._chunks):
            if i and self._chunk_delay:
                await asyncio.sleep(self._chunk_delay)
            yield chunk

    def close(self) -> None:
        return None


def error_response(status: int, message: str | None = None, code: str | None = None) -> MockResponse:
    body = error_body(status, message or f"mock error (HTTP {status})", code)
    response = MockResponse(status, orjson.dumps(body))
    if status == 429:
        response.headers = {**response.headers, "retry-after": "1"}
    return response


def bad_request(message: str, param: str) -> MockResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return MockResponse(400, orjson.dumps(body))


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class MockTransport:
    """Plays an OpenAI-compatible server in process. One RNG per seed keeps error draws repeatable."""

    in_process = True  # no network I/O: safe whatever URL a client chose

    def __init__(self) -> None:
        self._rngs: dict[int, random.Random] = {}

    async def send(self, wire: WireRequest, connect_timeout: float | None = None) -> MockResponse:
        settings = orjson.loads(wire.headers.get("x-mock-settings", "{}"))
        request = orjson.loads(wire.body)
        latency = float(settings.get("mock_latency_ms", 0)) / 1000.0
        if latency:
            await asyncio.sleep(latency)
        scripted = self._scripted_error(settings)
        if scripted is not None:
            return scripted
        if wire.url.endswith("/embeddings"):
            return self._embeddings(request)
        if wire.url.endswith("/moderations"):
            items = moderation.inputs_of(request.get("input"))
            if items is None:
                return bad_request("input must be a string, a list of strings or a list of parts", "input")
            return MockResponse(200, orjson.dumps(moderation.moderation(str(request.get("model")), items)))
        return self._chat(request, settings)

    def _scripted_error(self, settings: dict[str, Any]) -> MockResponse | None:
        fixed = settings.get("mock_response")
        named = litellm_error(fixed) if isinstance(fixed, str) else None
        if named is not None:
            status, code, name = named
            return error_response(status, f"litellm.{name}: mock error raised by mock_response", code)
        rate = float(settings.get("mock_error_rate", 0))
        if rate > 0:
            seed = int(settings.get("mock_seed", 0))
            rng = self._rngs.setdefault(seed, random.Random(seed))  # noqa: S311  # test data, not crypto
            if rng.random() < rate:
                return error_response(int(settings.get("mock_error_status", 429)))
        return None

    def _chat(self, request: dict[str, Any], settings: dict[str, Any]) -> MockResponse:
        n = request.get("n") if request.get("n") is not None else 1
        if _positive_int(n) is None or n > MAX_CHOICES:
            return bad_request(f"the mock provider answers 1 to {MAX_CHOICES} choices (n)", "n")
        ceiling = _positive_int(settings.get("mock_max_output_tokens")) or DEFAULT_MAX_OUTPUT_TOKENS
        asked = _positive_int(request.get("max_completion_tokens")) or _positive_int(
            request.get("max_tokens")
        )
        reply = replies.chat_reply(request, settings, min(asked or ceiling, ceiling), n)
        if request.get("stream"):
            delay = float(settings.get("mock_chunk_latency_ms", 0)) / 1000.0
            return MockResponse(200, None, replies.stream_chunks(request, reply, settings), delay)
        return MockResponse(200, orjson.dumps(reply))

    def _embeddings(self, request: dict[str, Any]) -> MockResponse:
        inputs = request.get("input")
        items = (
            [inputs] if isinstance(inputs, str) else list(inputs or []) if isinstance(inputs, list) else []
        )
        if items and all(isinstance(i, int) for i in items):
            items = [items]  # one input given as token ids (OpenAI's form), not one input per id
        if not items or len(items) > MAX_EMBEDDING_INPUTS:
            return bad_request(f"input must hold 1 to {MAX_EMBEDDING_INPUTS} items", "input")
        dims = (
            request.get("dimensions") if request.get("dimensions") is not None else replies.DEFAULT_DIMENSIONS
        )
        if _positive_int(dims) is None or dims > MAX_DIMENSIONS:
            return bad_request(f"the mock provider's dimensions are 1 to {MAX_DIMENSIONS}", "dimensions")
        if dims * len(items) > MAX_NUMBERS:
            return bad_request(
                f"{len(items)} inputs of {dims} dimensions exceed {MAX_NUMBERS} numbers per answer",
                "input",
            )
        return MockResponse(200, orjson.dumps(replies.embeddings(request, items, dims)))
