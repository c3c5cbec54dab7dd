"""YandexGPT streamed JSON lines -> OpenAI `chat.completion.chunk` dicts.

Each line is a whole completion answer whose text is everything generated so far (not the new
part): the translator sends what a line adds to the text the previous line had. The last line has
a final status (FINAL, TRUNCATED_FINAL, CONTENT_FILTER, TOOL_CALLS); its tool calls arrive whole
there. A line `{"error": {...}}` is a failure after the answer began. A stream that closes
before a final status was cut short.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import StreamEvent
from polyroute.providers.base import StreamTranslator
from polyroute.providers.yandexgpt.errors import error_from_object
from polyroute.providers.yandexgpt.response import (
    FINISH_REASONS,
    first_alternative,
    to_openai_usage,
    tool_calls_of,
)

PROVIDER = "yandexgpt"


class YandexStreamTranslator(StreamTranslator):
    def __init__(self, model: str) -> None:
        self.usage: dict[str, Any] | None = None
        self.model = model
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.finished = False
        self._text = ""
        self._started = False

    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        try:
            line = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamError("yandexgpt sent a stream line that is not JSON", provider=PROVIDER) from None
        if not isinstance(line, dict):
            raise UpstreamError("yandexgpt sent a stream line that is not an object", provider=PROVIDER)
        if isinstance(line.get("error"), dict):
            raise error_from_object(line["error"])
        if self.finished:
            return []
        result, alternative = first_alternative(line)
        usage = to_openai_usage(result.get("usage"))
        if usage is not None:
            self.usage = usage
        message = alternative.get("message") if isinstance(alternative.get("message"), dict) else {}
        chunks = self._start()
        text = message.get("text")
        if isinstance(text, str) and len(text) > len(self._text) and text.startswith(self._text):
            chunks.append(self._chunk({"content": text[len(self._text) :]}))
            self._text = text
        finish = FINISH_REASONS.get(str(alternative.get("status") or ""))
        if finish is not None:
            for position, call in enumerate(tool_calls_of(message)):
                chunks.append(self._chunk({"tool_calls": [{"index": position, **call}]}))
            chunks.append(self._chunk({}, finish))
            self.finished = True
        return chunks

    def on_end(self) -> list[dict[str, Any]]:
        if not self.finished:
            raise UpstreamError("yandexgpt stream ended before a final status", provider=PROVIDER)
        return []

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
