"""Reka chat answers and stream events -> OpenAI.

An answer is `{"id", "model", "responses": [{"finish_reason", "message": {"role", "content",
"tool_calls": [{"id", "name", "parameters"}]}}], "usage": {"input_tokens", "output_tokens"}}`.
A stream is SSE events of the same shape with `chunk` in place of `message`; FastChat reads each
chunk's `content` as the whole text so far (its other providers' convention), so the translator
sends what each event adds to the text before it. The event with a `finish_reason` is the last;
tool calls arrive whole. Finish reasons: `stop`, `length`, and `context` (the context window ran
out: OpenAI's `length`); an answer with tool calls finishes `tool_calls`.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import StreamEvent
from polyroute.providers.base import StreamTranslator

PROVIDER = "reka"
FINISH_REASONS = {"stop": "stop", "length": "length", "context": "length"}


def to_openai_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def openai_tool_calls(calls: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": str(call.get("id") or "call_" + secrets.token_hex(12)),
            "type": "function",
            "function": {
                "name": str(call.get("name") or ""),
                "arguments": orjson.dumps(call.get("parameters") or {}).decode(),
            },
        }
        for call in calls or []
        if isinstance(call, dict)
    ]


def finish_reason(reason: Any, has_calls: bool) -> str:
    return "tool_calls" if has_calls else FINISH_REASONS.get(str(reason), "stop")


def text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return content if isinstance(content, str) else ""


def first_response(data: dict[str, Any]) -> dict[str, Any]:
    responses = data.get("responses")
    if not isinstance(responses, list) or not responses or not isinstance(responses[0], dict):
        raise UpstreamError("reka answered without responses", provider=PROVIDER)
    return responses[0]


def to_chat_completion(data: dict[str, Any], model: str) -> dict[str, Any]:
    response = first_response(data)
    message = response.get("message") if isinstance(response.get("message"), dict) else {}
    calls = openai_tool_calls(message.get("tool_calls"))
    text = text_of(message.get("content"))
    out_message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        out_message["tool_calls"] = calls
    answer: dict[str, Any] = {
        "id": "chatcmpl-" + str(data.get("id") or secrets.token_hex(12)),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(data.get("model") or model),
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "finish_reason": finish_reason(response.get("finish_reason"), bool(calls)),
                "logprobs": None,
            }
        ],
    }
    usage = to_openai_usage(data.get("usage"))
    if usage is not None:
        answer["usage"] = usage
    return answer


class RekaStreamTranslator(StreamTranslator):
    def __init__(self, model: str) -> None:
        self.usage: dict[str, Any] | None = None
        self.model = model
        self.id: str | None = None
        self.created = int(time.time())
        self.finished = False
        self._text = ""

    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamError("reka sent a stream event that is not JSON", provider=PROVIDER) from None
        if not isinstance(data, dict):
            raise UpstreamError("reka sent a stream event that is not an object", provider=PROVIDER)
        if "detail" in data and "responses" not in data:
            raise UpstreamError(f"reka: {data['detail']}", provider=PROVIDER)
        response = first_response(data)
        chunks = []
        if self.id is None:
            self.id = "chatcmpl-" + str(data.get("id") or secrets.token_hex(12))
            chunks.append(self._chunk({"role": "assistant", "content": ""}))
        usage = to_openai_usage(data.get("usage"))
        if usage is not None:
            self.usage = usage
        piece = response.get("chunk") if isinstance(response.get("chunk"), dict) else {}
        text = text_of(piece.get("content"))
        if len(text) > len(self._text) and text.startswith(self._text):
            chunks.append(self._chunk({"content": text[len(self._text) :]}))
            self._text = text
        if response.get("finish_reason") is not None and not self.finished:
            calls = openai_tool_calls(piece.get("tool_calls"))
            for position, call in enumerate(calls):
                chunks.append(self._chunk({"tool_calls": [{"index": position, **call}]}))
            chunks.append(self._chunk({}, finish_reason(response.get("finish_reason"), bool(calls))))
            self.finished = True
        return chunks

    def on_end(self) -> list[dict[str, Any]]:
        if not self.finished:
            raise UpstreamError("reka stream ended without a finish reason", provider=PROVIDER)
        return []

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
        }
