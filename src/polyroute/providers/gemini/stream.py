"""Gemini `streamGenerateContent?alt=sse` frames -> OpenAI `chat.completion.chunk` dicts.

Every Gemini frame is a whole GenerateContentResponse holding only the new parts. Text parts
become content deltas (thought parts reasoning_content deltas); a functionCall part arrives
whole, so it becomes one complete tool-call delta. There is no end marker besides the frame that
carries finishReason; a stream that closes without one was cut short. Gemini reports errors
mid-stream as a frame `{"error": {...}}` (no event name).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.sse import SSEEvent
from polyroute.providers.base import StreamTranslator
from polyroute.providers.gemini.errors import error_from_status
from polyroute.providers.gemini.response import (
    candidate_parts,
    map_finish_reason,
    new_completion_id,
    to_openai_usage,
    tool_call_from,
)


class GeminiStreamTranslator(StreamTranslator):
    """One per request. `usage` holds the last usageMetadata seen, OpenAI-shaped."""

    def __init__(self, model: str) -> None:
        self.usage: dict[str, Any] | None = None
        self.model = model
        self.id: str | None = None
        self.created = int(time.time())
        self.finished = False
        self._started: set[int] = set()  # candidate indexes that got their role chunk
        self._tool_calls: dict[int, int] = {}  # candidate index -> tool calls emitted so far
        self._model_known = False

    def on_event(self, event: SSEEvent) -> list[dict[str, Any]]:
        if not event.data.strip():
            return []
        try:
            frame = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamError("gemini sent a stream frame that is not JSON", provider="gemini") from None
        if not isinstance(frame, dict):
            raise UpstreamError("gemini sent a stream frame that is not an object", provider="gemini")
        if isinstance(frame.get("error"), dict):
            raise error_from_status(frame["error"])
        self._identify(frame)
        usage = to_openai_usage(frame.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        candidates = [c for c in frame.get("candidates") or [] if isinstance(c, dict)]
        if not candidates:
            return self._prompt_blocked(frame)
        chunks: list[dict[str, Any]] = []
        for position, candidate in enumerate(candidates):
            index = candidate.get("index")
            chunks.extend(self._candidate(candidate, index if isinstance(index, int) else position))
        return chunks

    def on_end(self) -> list[dict[str, Any]]:
        if not self.finished:
            raise UpstreamError("gemini stream ended without a finish reason", provider="gemini")
        return []

    # -- frames ------------------------------------------------------------------------------
    def _identify(self, frame: dict[str, Any]) -> None:
        if self.id is None:
            self.id = new_completion_id(frame.get("responseId"))
        if not self._model_known and frame.get("modelVersion"):
            self.model = str(frame["modelVersion"])
        self._model_known = True  # chunks of one stream all name the same model

    def _candidate(self, candidate: dict[str, Any], index: int) -> list[dict[str, Any]]:
        chunks = self._start(index)
        text: list[str] = []
        thought: list[str] = []

        def flush() -> None:
            if thought:
                chunks.append(self._chunk(index, {"reasoning_content": "".join(thought)}))
                thought.clear()
            if text:
                chunks.append(self._chunk(index, {"content": "".join(text)}))
                text.clear()

        for part in candidate_parts(candidate):
            if isinstance(part.get("functionCall"), dict):
                flush()
                chunks.append(self._tool_call(index, part["functionCall"]))
            elif isinstance(part.get("text"), str) and part["text"]:
                if part.get("thought"):
                    if text:
                        flush()
                    thought.append(part["text"])
                else:
                    if thought:
                        flush()
                    text.append(part["text"])
        flush()
        reason = candidate.get("finishReason")
        if reason:
            finish = map_finish_reason(reason, self._tool_calls.get(index, 0) > 0)
            chunks.append(self._chunk(index, {}, finish))
            self.finished = True
        return chunks

    def _prompt_blocked(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        feedback = frame.get("promptFeedback")
        if not (isinstance(feedback, dict) and feedback.get("blockReason")):
            return []  # a usage-only frame
        self.finished = True
        return [*self._start(0), self._chunk(0, {}, "content_filter")]

    def _start(self, index: int) -> list[dict[str, Any]]:
        if index in self._started:
            return []
        self._started.add(index)
        return [self._chunk(index, {"role": "assistant", "content": ""})]

    def _tool_call(self, index: int, function_call: dict[str, Any]) -> dict[str, Any]:
        position = self._tool_calls.get(index, 0)
        self._tool_calls[index] = position + 1
        return self._chunk(index, {"tool_calls": [{"index": position, **tool_call_from(function_call)}]})

    def _chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
