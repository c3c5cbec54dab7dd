"""OpenAI `chat.completion.chunk`s -> Anthropic's Messages SSE event sequence.

    message_start  (usage: input tokens when the first chunk says, else 0: message_delta
                   carries the final figures, which the SDK takes over message_start's)
    ping
    content_block_start / content_block_delta* / content_block_stop   per block, one at a time:
        reasoning_content  -> a thinking block (thinking_delta); vLLM's `reasoning` alike; a
                              signature in the delta's `thinking_blocks` -> signature_delta;
                              a redacted block -> a redacted_thinking block of its own
        content, refusal   -> a text block (text_delta); a refusal ends in stop_reason refusal
        tool_calls[i]      -> one tool_use block per tool call index, in the order they start
                              (input_json_delta with the arguments' fragments)
    message_delta  (stop_reason, stop_sequence, usage)
    message_stop

A kind change closes the open block and opens the next. An upstream that interleaves argument
fragments of parallel tool calls (rare) gets a late fragment written to the earlier call's block
by its index after that block stopped: the SDK accumulates by index, Anthropic itself never
does this.
A stream that called a tool ends in `tool_use` even when the upstream says "stop".
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import GatewayError
from polyroute.inbound.anthropic_messages.errors import error_event
from polyroute.inbound.anthropic_messages.fields import is_int
from polyroute.inbound.anthropic_messages.response import (
    anthropic_usage,
    message_id,
    stop_reason,
    tool_use_id,
)

_TEXT, _THINKING, _TOOL = "text", "thinking", "tool"


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class MessagesStreamEncoder:
    """One per stream (`StreamEncoder`)."""

    def __init__(self, body: dict[str, Any], request_id: str) -> None:
        self.model = body.get("model") if isinstance(body.get("model"), str) else ""
        stops = body.get("stop_sequences")
        self._stops = frozenset(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else ()
        self.request_id = request_id
        self._started = False
        self._finished = False
        self._next_index = 0
        self._open: tuple[str, int] | None = None  # (kind, Anthropic block index)
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._finish_reason: str | None = None
        self._matched_stop: str | None = None
        self._usage: dict[str, Any] | None = None
        self._refused = False

    # -- StreamEncoder ------------------------------------------------------------------------------
    def chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        if self._finished:
            return b""  # nothing may follow message_stop or an error event
        out = bytearray()
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            if isinstance(chunk.get("usage"), dict):
                self._usage = chunk["usage"]
            if not self._started:
                out += self._start(chunk)
            choices = chunk.get("choices")
            for choice in choices if isinstance(choices, list) else ():
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    out += self._choice(choice)
        return bytes(out)

    def finish(self, usage: dict[str, Any] | None) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        out = bytearray()
        if not self._started:
            out += self._start(None)
        out += self._close()
        usage = usage if isinstance(usage, dict) else self._usage
        tool_used = bool(self._tool_blocks)
        finish = "content_filter" if self._refused else self._finish_reason
        reason = stop_reason(finish, tool_used, self._matched_stop)
        delta = {
            "stop_reason": reason,
            "stop_sequence": self._matched_stop if reason == "stop_sequence" else None,
        }
        out += _event(
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": _delta_usage(usage)},
        )
        out += _event("message_stop", {"type": "message_stop"})
        return bytes(out)

    def error(self, error: GatewayError, request_id: str) -> bytes:
        self._finished = True
        return error_event(error)

    # -- events -------------------------------------------------------------------------------------
    def _start(self, chunk: dict[str, Any] | None) -> bytes:
        self._started = True
        usage = anthropic_usage(self._usage)
        usage["output_tokens"] = 0  # message_delta reports the output
        message = {
            "id": message_id(chunk.get("id") if chunk else None),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return _event("message_start", {"type": "message_start", "message": message}) + _event(
            "ping", {"type": "ping"}
        )

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        out = bytearray()
        out += self._thinking(delta)
        content = delta.get("content")
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal and not content:
            content, self._refused = refusal, True  # OpenAI streams a refusal beside content
        if isinstance(content, str) and content:
            out += self._block(_TEXT, {"type": "text", "text": ""})
            out += self._delta({"type": "text_delta", "text": content})
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else ()):
            if isinstance(call, dict):
                out += self._tool_call(call, position)
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            self._finish_reason = reason
        matched = choice.get("stop_reason")  # vLLM/SGLang: the stop string that matched
        if isinstance(matched, str) and matched in self._stops:
            self._matched_stop = matched
        return bytes(out)

    def _thinking(self, delta: dict[str, Any]) -> bytes:
        out = bytearray()
        reasoning = delta.get("reasoning_content")
        if reasoning is None:
            reasoning = delta.get("reasoning")  # vLLM's and OpenRouter's name for it
        blocks = delta.get("thinking_blocks")
        blocks = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
        if not isinstance(reasoning, str) or not reasoning:
            # Text from thinking_blocks only when reasoning_content did not carry it already.
            reasoning = "".join(b["thinking"] for b in blocks if isinstance(b.get("thinking"), str))
        if reasoning:
            out += self._block(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
            out += self._delta({"type": "thinking_delta", "thinking": reasoning})
        for block in blocks:
            signature = block.get("signature")
            if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
                out += self._close()
                out += self._block("redacted", {"type": "redacted_thinking", "data": block["data"]})
                out += self._close()
            elif isinstance(signature, str) and signature:
                out += self._block(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
                out += self._delta({"type": "signature_delta", "signature": signature})
        return bytes(out)

    def _tool_call(self, call: dict[str, Any], position: int) -> bytes:
        index = call.get("index")
        if not is_int(index):
            index = position
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        out = bytearray()
        block = self._tool_blocks.get(index)
        if block is None:
            start = {
                "type": "tool_use",
                "id": tool_use_id(call.get("id")),
                "name": function.get("name") if isinstance(function.get("name"), str) else "",
                "input": {},
            }
            out += self._close()
            out += self._open_block(_TOOL, start)
            block = self._tool_blocks[index] = self._next_index - 1
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            payload = {"type": "input_json_delta", "partial_json": arguments}
            out += _event(
                "content_block_delta", {"type": "content_block_delta", "index": block, "delta": payload}
            )
        return bytes(out)

    # -- blocks -------------------------------------------------------------------------------------
    def _block(self, kind: str, start: dict[str, Any]) -> bytes:
        """Opens a block of `kind` unless one is open already."""
        if self._open is not None and self._open[0] == kind:
            return b""
        return self._close() + self._open_block(kind, start)

    def _open_block(self, kind: str, start: dict[str, Any]) -> bytes:
        index = self._next_index
        self._next_index += 1
        self._open = (kind, index)
        return _event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        )

    def _delta(self, delta: dict[str, Any]) -> bytes:
        assert self._open is not None
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": self._open[1], "delta": delta}
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index = self._open[1]
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _delta_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    if usage is None:
        return {"output_tokens": 0}  # unknown: message_start's figures stand
    return anthropic_usage(usage)
