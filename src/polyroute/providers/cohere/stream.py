"""Cohere v2 chat stream events -> OpenAI `chat.completion.chunk` dicts.

Cohere streams SSE events whose JSON carries its `type`: `message-start` (the id),
`content-start`/`content-delta`/`content-end` (text at `delta.message.content.text`, a
reasoning model's thinking at `.thinking`: `reasoning_content`),
`tool-plan-delta` (the model's plan before calling tools: `reasoning_content`),
`tool-call-start` (id and name, `index` counting the calls), `tool-call-delta` (argument pieces),
`tool-call-end`, `citation-start`/`citation-end` (not carried: OpenAI has no place for them) and
`message-end` with `finish_reason` and `usage`. `message-end` is the only end marker: a stream
closed before it was cut short. A `message-end` with finish reason `ERROR` is an upstream failure.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import StreamEvent
from polyroute.providers.base import StreamTranslator
from polyroute.providers.cohere.response import completion_id, map_finish_reason, to_openai_usage

PROVIDER = "cohere"


class CohereStreamTranslator(StreamTranslator):
    def __init__(self, model: str) -> None:
        self.usage: dict[str, Any] | None = None
        self.model = model
        self.id: str | None = None
        self.created = int(time.time())
        self.finished = False
        self._started = False
        self._calls = 0

    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        if not event.data.strip() or event.data.strip() == b"[DONE]":
            return []
        try:
            frame = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamError("cohere sent a stream event that is not JSON", provider=PROVIDER) from None
        if not isinstance(frame, dict):
            raise UpstreamError("cohere sent a stream event that is not an object", provider=PROVIDER)
        kind = frame.get("type") or event.event
        delta = frame.get("delta") if isinstance(frame.get("delta"), dict) else {}
        message = delta.get("message") if isinstance(delta.get("message"), dict) else {}
        if kind == "message-start":
            self.id = completion_id(frame.get("id"))
            return self._start()
        if kind == "content-delta":
            content = message.get("content") if isinstance(message.get("content"), dict) else {}
            if content.get("thinking"):  # reasoning models stream their thinking as content too
                return self._delta({"reasoning_content": str(content["thinking"])})
            return self._delta({"content": str(content.get("text") or "")}) if content.get("text") else []
        if kind == "tool-plan-delta":
            plan = message.get("tool_plan")
            return self._delta({"reasoning_content": str(plan)}) if plan else []
        if kind == "tool-call-start":
            return self._tool_call_start(message.get("tool_calls"))
        if kind == "tool-call-delta":
            return self._tool_call_delta(message.get("tool_calls"))
        if kind == "message-end":
            return self._end(delta)
        return []  # content-start/end, tool-call-end, citations, debug: nothing for OpenAI

    def on_end(self) -> list[dict[str, Any]]:
        if not self.finished:
            raise UpstreamError("cohere stream ended before message-end", provider=PROVIDER)
        return []

    def _tool_call_start(self, call: Any) -> list[dict[str, Any]]:
        call = call if isinstance(call, dict) else {}
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        wire = {
            "index": self._calls,
            "id": str(call.get("id") or ""),
            "type": "function",
            "function": {
                "name": str(function.get("name") or ""),
                "arguments": str(function.get("arguments") or ""),
            },
        }
        self._calls += 1
        return self._delta({"tool_calls": [wire]})

    def _tool_call_delta(self, call: Any) -> list[dict[str, Any]]:
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if not arguments or not self._calls:
            return []
        return self._delta(
            {"tool_calls": [{"index": self._calls - 1, "function": {"arguments": str(arguments)}}]}
        )

    def _end(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        reason = delta.get("finish_reason")
        if reason == "ERROR":
            raise UpstreamError(f"cohere: {delta.get('error') or 'generation failed'}", provider=PROVIDER)
        usage = to_openai_usage(delta.get("usage"))
        if usage is not None:
            self.usage = usage
        finish = map_finish_reason(reason)
        if self._calls and finish == "stop":
            finish = "tool_calls"
        self.finished = True
        return [*self._start(), self._chunk({}, finish)]

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        if self.id is None:
            self.id = completion_id(None)
        return [self._chunk({"role": "assistant", "content": ""})]

    def _delta(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        return [*self._start(), self._chunk(delta)]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
