"""Anthropic Messages SSE events -> OpenAI `chat.completion.chunk` dicts.

A state machine over parsed events:
  message_start        remember id/model/usage; first chunk with `role: assistant`
  content_block_start  text: nothing yet; tool_use: the tool call's opening delta (index counts
                       tool calls only, from 0: Anthropic's block index also counts text blocks)
  content_block_delta  text_delta -> content, input_json_delta -> arguments fragment,
                       thinking_delta -> reasoning_content, signature_delta -> a `thinking_blocks`
                       delta with the signature (LiteLLM's field); citations are dropped
  message_delta        stop_reason and cumulative usage
  message_stop         last chunk with finish_reason (and the matched stop sequence in the
                       choice's `stop_reason`, as vLLM has it); `usage` is then final
  ping                 ignored; `error` raises the mapped GatewayError
The structured-output tool (`structured.JSON_TOOL_NAME`) streams its JSON as `content` instead.
The usage-only chunk is the server's to send, from `usage`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.sse import SSEEvent
from polyroute.providers.anthropic.errors import PROVIDER, error_from_payload
from polyroute.providers.anthropic.response import finish_reason, openai_usage
from polyroute.providers.anthropic.structured import JSON_TOOL_NAME
from polyroute.providers.base import StreamTranslator

_TEXT, _TOOL, _JSON, _THINKING, _OTHER = "text", "tool", "json", "thinking", "other"


class AnthropicStreamTranslator(StreamTranslator):
    """One per request; feed it every SSE event of the upstream stream."""

    def __init__(self, model: str) -> None:
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.id = "chatcmpl-"
        self.model = model
        self.created = int(time.time())
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self._started = False
        self._anthropic_usage: dict[str, Any] = {}
        # Anthropic block index -> (kind, OpenAI tool-call index or -1)
        self._blocks: dict[int, tuple[str, int]] = {}
        self._tool_calls = 0
        self._structured = False

    # -- events -------------------------------------------------------------------------------
    def on_event(self, event: SSEEvent) -> list[dict[str, Any]]:
        if not event.data:
            return []
        try:
            data = event.json()
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                f"{PROVIDER} sent a stream event that is not JSON", provider=PROVIDER
            ) from exc
        if not isinstance(data, dict):
            return []
        kind = event.event or data.get("type")
        if kind == "error":
            raise error_from_payload(data, None)
        if self.done:
            return []
        handler = _HANDLERS.get(kind or "")
        # Unknown event types are skipped: Anthropic may add new ones (its versioning policy).
        return handler(self, data) if handler is not None else []

    def on_end(self) -> list[dict[str, Any]]:
        if not self.done:
            raise UpstreamError(f"{PROVIDER} stream ended before message_stop", provider=PROVIDER)
        return []

    def _message_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        if message.get("id"):
            self.id = "chatcmpl-" + str(message["id"])
        if message.get("model"):
            self.model = message["model"]
        if isinstance(message.get("usage"), dict):
            self._anthropic_usage.update(message["usage"])
            self.usage_so_far = openai_usage(self._anthropic_usage)
        return self._start()

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") if isinstance(data.get("content_block"), dict) else {}
        index = data.get("index", len(self._blocks))
        chunks = self._start()
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = (_TEXT, -1)
            if block.get("text"):
                chunks.append(self._chunk({"content": block["text"]}))
        elif kind == "thinking":
            self._blocks[index] = (_THINKING, -1)
            if block.get("thinking"):
                chunks.append(self._chunk({"reasoning_content": block["thinking"]}))
        elif kind == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            self._blocks[index] = (_JSON, -1)
            self._structured = True
        elif kind == "tool_use":
            position = self._tool_calls
            self._tool_calls += 1
            self._blocks[index] = (_TOOL, position)
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            chunks.append(self._chunk({"tool_calls": [call]}))
        elif kind == "redacted_thinking":
            self._blocks[index] = (_OTHER, -1)
            redacted = {"type": "redacted_thinking", "data": block.get("data")}
            chunks.append(self._chunk({"thinking_blocks": [redacted]}))
        else:
            self._blocks[index] = (_OTHER, -1)  # server tools: nothing to relay
        return chunks

    def _block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
        kind, position = self._blocks.get(data.get("index", -1), (_OTHER, -1))
        delta_type = delta.get("type")
        if delta_type == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta_type == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if delta_type == "signature_delta" and delta.get("signature") and kind == _THINKING:
            signed = {"type": "thinking", "thinking": "", "signature": delta["signature"]}
            return [self._chunk({"thinking_blocks": [signed]})]
        if delta_type == "input_json_delta" and delta.get("partial_json"):
            if kind == _TOOL:
                fragment = {"index": position, "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [fragment]})]
            if kind == _JSON:
                return [self._chunk({"content": delta["partial_json"]})]
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
        if delta.get("stop_reason"):
            self.stop_reason = delta["stop_reason"]
        if isinstance(delta.get("stop_sequence"), str):
            self.stop_sequence = delta["stop_sequence"]
        usage = data.get("usage")
        if isinstance(usage, dict):
            # Cumulative totals: a field sent replaces, a field left out keeps message_start's value.
            self._anthropic_usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = openai_usage(self._anthropic_usage)
        return []

    def _message_stop(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.done = True
        if self._anthropic_usage:
            self.usage = openai_usage(self._anthropic_usage)
        chunks = self._start()
        reason = finish_reason(self.stop_reason, structured=self._structured and not self._tool_calls)
        last = self._chunk({}, reason)
        if self.stop_reason == "stop_sequence" and self.stop_sequence is not None:
            last["choices"][0]["stop_reason"] = self.stop_sequence  # where vLLM names the match
        chunks.append(last)
        return chunks

    def _ignore(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    # -- output -------------------------------------------------------------------------------
    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
        }


_HANDLERS = {
    "message_start": AnthropicStreamTranslator._message_start,
    "content_block_start": AnthropicStreamTranslator._block_start,
    "content_block_delta": AnthropicStreamTranslator._block_delta,
    "content_block_stop": AnthropicStreamTranslator._ignore,
    "message_delta": AnthropicStreamTranslator._message_delta,
    "message_stop": AnthropicStreamTranslator._message_stop,
    "ping": AnthropicStreamTranslator._ignore,
}
