"""The AI2 adapter: Allen AI's InferD endpoint (Tulu and OLMo models), as FastChat reaches it.

InferD answers only in JSON lines (`wire.py`), streamed or not: a streamed request goes to the
relay with the JSON-lines decoder; for a plain one the transport reads all the lines and the
adapter joins their text into one OpenAI answer. InferD reports no token counts: the gateway
estimates usage as for any provider that sends none. The model is `ai2/<name>`; the InferD
model id comes from `litellm_params.model_id` (FastChat's endpoint entries carry it), else the
name is taken as the id.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import JSONLinesDecoder, StreamEvent
from polyroute.providers.ai2.spec import MODEL_ID_SETTING, SPEC
from polyroute.providers.ai2.wire import PROVIDER, SUPPORTED_CHAT_PARAMS, infer_body, text_of_line
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest


class AI2Adapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        request = {**call.defaults, **body} if call.defaults else body
        model_id = str(call.extras.get(MODEL_ID_SETTING) or call.model)
        headers = {"content-type": "application/json", **call.extra_headers}
        if call.api_key:
            headers["authorization"] = "Bearer " + call.api_key.reveal()
        url = (call.api_base or self.default_api_base or "").rstrip("/")
        return InferWire(url, headers, orjson.dumps(infer_body(model_id, request)), stream=stream)

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        lines = data.get(JOINED_LINES)
        if not isinstance(lines, list) or not lines:
            raise UpstreamError("ai2 answered with no lines", provider=PROVIDER)
        text = "".join(text_of_line(line) for line in lines)
        return {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
        }

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return AI2StreamTranslator(call.model)

    def transport(self, http: Any = None) -> Any:
        return JoinedLinesTransport(http) if http is not None else None


# -- a plain answer: every line read, joined into one JSON object for `chat_response` ------------

JOINED_LINES = "lines"


class InferWire(WireRequest):
    """A WireRequest that remembers whether the client asked for a stream."""

    def __init__(self, url: str, headers: dict[str, str], body: bytes, stream: bool) -> None:
        super().__init__(url, headers, body)
        self.stream = stream


class _Joined:
    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = 200
        self.headers = headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    def close(self) -> None:
        return None


class JoinedLinesTransport:
    def __init__(self, http: Any) -> None:
        self.http = http

    async def send(self, wire: WireRequest, connect_timeout: float | None = None) -> Any:
        response = await self.http.send(wire, connect_timeout)
        if response.status >= 300 or getattr(wire, "stream", True):
            return response
        decoder = JSONLinesDecoder()
        raw = await response.read()
        lines = [_parse(event) for event in decoder.feed(raw) + decoder.flush()]
        return _Joined(orjson.dumps({JOINED_LINES: lines}), response.headers)


def _parse(event: StreamEvent) -> Any:
    try:
        return orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UpstreamError("ai2 sent a line that is not JSON", provider=PROVIDER) from None


class AI2StreamTranslator(StreamTranslator):
    def __init__(self, model: str) -> None:
        self.model = model
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self._started = False

    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        text = text_of_line(_parse(event))
        chunks = self._start()
        if text:
            chunks.append(self._chunk({"content": text}))
        return chunks

    def on_end(self) -> list[dict[str, Any]]:
        # InferD has no end marker: a clean close is the end (a broken one never reaches here).
        return [*self._start(), self._chunk({}, "stop")]

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
