"""OpenAI Chat Completions as an inbound protocol: the identity of the pipeline's lingua franca.

Adapters already speak chat, so decoding is validation only (no copy), a chat answer is sent as it
is (for OpenAI-format upstreams, as the upstream's own bytes: server/pipeline.py), and a translated
stream is encoded chunk by chunk as `data: {...}` events ending in `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polyroute.errors import GatewayError
from polyroute.protocol.sse import encode_data, encode_done
from polyroute.protocol.validate import validate_chat

ChunkTransform = Callable[[dict[str, Any]], dict[str, Any] | None]


class OpenAIChunkEncoder:
    """Chat chunks -> OpenAI SSE. `transform` reshapes each chunk (legacy completions); the usage
    chunk goes out at the end only when the client asked for it (`stream_options.include_usage`)."""

    __slots__ = ("include_usage", "transform", "fallback_id", "model", "last")

    def __init__(
        self, include_usage: bool, fallback_id: str, model: str, transform: ChunkTransform | None = None
    ) -> None:
        self.include_usage = include_usage
        self.transform = transform
        self.fallback_id = fallback_id
        self.model = model
        self.last: dict[str, Any] = {}

    def chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        if not chunks:
            return b""
        self.last = chunks[-1]
        if self.transform is not None:
            chunks = [c for c in map(self.transform, chunks) if c is not None]
        return b"".join(encode_data(c) for c in chunks)

    def finish(self, usage: dict[str, Any] | None) -> bytes:
        tail = b""
        if self.include_usage and usage is not None:
            template = self.last
            chunk = {
                "id": template.get("id", self.fallback_id),
                "object": "chat.completion.chunk",
                "created": template.get("created", 0),
                "model": template.get("model", self.model),
                "choices": [],
                "usage": usage,
            }
            if self.transform is not None:
                transformed = self.transform(chunk)
                tail = encode_data(transformed) if transformed is not None else b""
            else:
                tail = encode_data(chunk)
        return tail + encode_done()

    def error(self, error: GatewayError, request_id: str) -> bytes:
        return openai_error_event(error, request_id)


def openai_error_event(error: GatewayError, request_id: str) -> bytes:
    """The error event the OpenAI SDK raises when a stream breaks after its first byte."""
    return b"data: " + error.to_body(request_id) + b"\n\n"


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


def with_stream_usage(payload: dict[str, Any]) -> dict[str, Any]:
    """Asks an OpenAI-compatible upstream for its usage chunk (the relay strips it again when
    the client did not ask for it), so streams are billed from the provider's own figures."""
    options = payload.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    options["include_usage"] = True
    return {**payload, "stream_options": options}


class ChatProtocol:
    name = "chat"
    call_type = "chat_completion"
    native_providers: frozenset[str] = frozenset()

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        validate_chat(body)
        return body

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return answer

    def stream_encoder(self, body: dict[str, Any], request_id: str, model: str = "") -> OpenAIChunkEncoder:
        return OpenAIChunkEncoder(include_usage(body), "chatcmpl-" + request_id, model)

    def error_body(self, error: GatewayError, request_id: str) -> bytes:
        return error.to_body(request_id)

    def stream_error(self, error: GatewayError, request_id: str) -> bytes:
        return openai_error_event(error, request_id)


CHAT = ChatProtocol()
