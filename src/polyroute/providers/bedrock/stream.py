"""Bedrock ConverseStream events -> OpenAI `chat.completion.chunk` dicts.

The events (decoded from AWS event-stream by `eventstream.py`) are `messageStart` (the role),
`contentBlockStart` (`start.toolUse` with `toolUseId` and `name` opens a tool call at
`contentBlockIndex`), `contentBlockDelta` (`delta.text`, `delta.toolUse.input` (a piece of the
arguments' JSON) or `delta.reasoningContent.text`), `contentBlockStop`, `messageStop`
(`stopReason`) and `metadata` (`usage`, `metrics`), which comes last. `messageStop` is the end
marker: a stream closed before it was cut short. `exception:*`/`error:*` events are the
upstream's in-stream errors (`errors.stream_error`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import StreamEvent
from polyroute.providers.base import StreamTranslator
from polyroute.providers.bedrock.errors import stream_error
from polyroute.providers.bedrock.response import completion_id, map_finish_reason, to_openai_usage

PROVIDER = "bedrock"


class BedrockStreamTranslator(StreamTranslator):
    def __init__(self, model: str) -> None:
        self.usage: dict[str, Any] | None = None
        self.model = model
        self.id = completion_id()
        self.created = int(time.time())
        self.stopped = False
        self._started = False
        self._finish: str | None = None
        self._calls: dict[int, int] = {}  # contentBlockIndex -> OpenAI tool_calls index

    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        name = event.event or ""
        if name.startswith(("exception:", "error:")):
            raise stream_error(name, event.data)
        try:
            frame = orjson.loads(event.data) if event.data else {}
        except orjson.JSONDecodeError:
            raise UpstreamError("bedrock sent a stream event that is not JSON", provider=PROVIDER) from None
        if not isinstance(frame, dict):
            raise UpstreamError("bedrock sent a stream event that is not an object", provider=PROVIDER)
        if name == "messageStart":
            return self._start()
        if name == "contentBlockStart":
            return self._block_start(frame)
        if name == "contentBlockDelta":
            return self._block_delta(frame)
        if name == "messageStop":
            self.stopped = True
            self._finish = map_finish_reason(frame.get("stopReason"))
            return [*self._start(), self._chunk({}, self._finish)]
        if name == "metadata":
            usage = to_openai_usage(frame.get("usage"))
            if usage is not None:
                self.usage = usage
        return []  # contentBlockStop, unknown future events

    def on_end(self) -> list[dict[str, Any]]:
        if not self.stopped:
            raise UpstreamError("bedrock stream ended before messageStop", provider=PROVIDER)
        return []

    def _block_start(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        use = (frame.get("start") or {}).get("toolUse") if isinstance(frame.get("start"), dict) else None
        if not isinstance(use, dict):
            return []
        index = len(self._calls)
        self._calls[_block_index(frame)] = index
        call = {
            "index": index,
            "id": str(use.get("toolUseId") or ""),
            "type": "function",
            "function": {"name": str(use.get("name") or ""), "arguments": ""},
        }
        return self._delta({"tool_calls": [call]})

    def _block_delta(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        delta = frame.get("delta") if isinstance(frame.get("delta"), dict) else {}
        if isinstance(delta.get("text"), str):
            return self._delta({"content": delta["text"]}) if delta["text"] else []
        if isinstance(delta.get("toolUse"), dict):
            index = self._calls.get(_block_index(frame))
            piece = delta["toolUse"].get("input")
            if index is None or not piece:
                return []
            return self._delta({"tool_calls": [{"index": index, "function": {"arguments": str(piece)}}]})
        if isinstance(delta.get("reasoningContent"), dict):
            text = delta["reasoningContent"].get("text")
            return self._delta({"reasoning_content": str(text)}) if text else []
        return []

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
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


def _block_index(frame: dict[str, Any]) -> int:
    index = frame.get("contentBlockIndex")
    return index if isinstance(index, int) else 0
