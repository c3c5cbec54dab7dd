"""OpenAI chat chunks as a Responses event stream, in OpenAI's order.

    response.created, response.in_progress
    per output item: response.output_item.added, then
        reasoning:     reasoning_summary_part.added, reasoning_summary_text.delta...,
                       reasoning_summary_text.done, reasoning_summary_part.done
        message:       content_part.added, output_text.delta..., output_text.done, content_part.done
        function_call: function_call_arguments.delta..., function_call_arguments.done
    response.output_item.done
    response.completed (or response.incomplete when the answer hit max_output_tokens)

Each event is `event: <type>` and `data: <json>` with `type` and a `sequence_number` counted from
0. Reasoning and text items close when the next kind of output begins; function calls stay open
until the end (providers may interleave the deltas of parallel calls) and close in order. A
stream that breaks after its first byte ends with response.failed, carrying the error.
`response` holds the finished response object (for the store) once `finish` ran.
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import GatewayError
from polyroute.inbound.responses.response import (
    INCOMPLETE_REASONS,
    function_call_item,
    message_item,
    new_id,
    reasoning_item,
    responses_usage,
    skeleton,
    text_part,
)

# OpenAI's ResponseError codes the gateway's errors map to (its enum has no generic client code).
_ERROR_CODES = {429: "rate_limit_exceeded", 400: "invalid_prompt"}


class ResponsesStreamEncoder:
    """One stream's translation (see the module docstring)."""

    def __init__(
        self, body: dict[str, Any], request_id: str, created_at: int, response_id: str | None = None
    ) -> None:
        self.request_id = request_id
        self._response = skeleton(body, response_id or new_id("resp"), created_at, "in_progress")
        self._sequence = 0
        self._started = False
        self._output: list[dict[str, Any]] = []  # items in output order, as they grow
        self._open: str | None = None  # "reasoning" or "message": the text item being written
        self._calls: dict[int, int] = {}  # chat tool_call index -> output index (open calls)
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        #: the finished response object, set by `finish` (and `error`)
        self.response: dict[str, Any] | None = None

    # -- the StreamEncoder contract -------------------------------------------------------------
    def chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        out = bytearray(self._start())
        for chunk in chunks:
            if chunk.get("usage"):
                self._usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue  # Responses has one output: n > 1 has no place in it
                delta = choice.get("delta") or {}
                reasoning = delta.get("reasoning_content")
                if reasoning is None:
                    reasoning = delta.get("reasoning")
                if isinstance(reasoning, str) and reasoning:
                    out += self._reasoning(reasoning)
                content = delta.get("content")
                if isinstance(content, str) and content:
                    out += self._text(content)
                for call in delta.get("tool_calls") or ():
                    out += self._tool_call(call)
                if isinstance(choice.get("finish_reason"), str):
                    self._finish_reason = choice["finish_reason"]
        return bytes(out)

    def finish(self, usage: dict[str, Any] | None) -> bytes:
        out = bytearray(self._start())
        out += self._close_text()
        if not self._output:
            out += self._open_message()  # an empty answer is still one (empty) message
            out += self._close_text()
        out += self._close_calls()
        response = self._final(usage or self._usage)
        incomplete = INCOMPLETE_REASONS.get(self._finish_reason or "")
        if incomplete:
            response["status"] = "incomplete"
            response["incomplete_details"] = {"reason": incomplete}
            for item in response["output"]:
                if item["type"] == "message":
                    item["status"] = "incomplete"
            out += self._event("response.incomplete", {"response": response})
        else:
            response["status"] = "completed"
            out += self._event("response.completed", {"response": response})
        self.response = response
        return bytes(out)

    def error(self, error: GatewayError, request_id: str) -> bytes:
        out = bytearray(self._start())
        response = self._final(self._usage)
        response["status"] = "failed"
        response["error"] = {
            "code": _ERROR_CODES.get(error.status, "server_error"),
            "message": f"{error.message} (request {request_id})",
        }
        self.response = response
        out += self._event("response.failed", {"response": response})
        return bytes(out)

    # -- items -----------------------------------------------------------------------------------
    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._event("response.created", {"response": self._snapshot()}) + self._event(
            "response.in_progress", {"response": self._snapshot()}
        )

    def _reasoning(self, delta: str) -> bytes:
        out = b""
        if self._open != "reasoning":
            out += self._close_text()
            item = reasoning_item(new_id("rs"), None)
            out += self._add(item)
            self._open = "reasoning"
            index = len(self._output) - 1
            out += self._event(
                "response.reasoning_summary_part.added",
                {
                    "item_id": item["id"],
                    "output_index": index,
                    "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""},
                },
            )
            item["summary"] = [{"type": "summary_text", "text": ""}]
        index = len(self._output) - 1
        item = self._output[index]
        item["summary"][0]["text"] += delta
        return out + self._event(
            "response.reasoning_summary_text.delta",
            {"item_id": item["id"], "output_index": index, "summary_index": 0, "delta": delta},
        )

    def _text(self, delta: str) -> bytes:
        out = b""
        if self._open != "message":
            out += self._close_text() + self._open_message()
        index = len(self._output) - 1
        item = self._output[index]
        item["content"][0]["text"] += delta
        return out + self._event(
            "response.output_text.delta",
            {
                "item_id": item["id"],
                "output_index": index,
                "content_index": 0,
                "delta": delta,
                "logprobs": [],
            },
        )

    def _open_message(self) -> bytes:
        item = message_item(new_id("msg"), [], "in_progress")
        out = self._add(item)
        self._open = "message"
        part = text_part("")
        out += self._event(
            "response.content_part.added",
            {"item_id": item["id"], "output_index": len(self._output) - 1, "content_index": 0, "part": part},
        )
        item["content"].append(dict(part))
        return out

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        out = b""
        position = call.get("index", 0)
        function = call.get("function") or {}
        if position not in self._calls:
            out += self._close_text()
            item = function_call_item(
                new_id("fc"), call.get("id") or new_id("call"), function.get("name") or "", "", "in_progress"
            )
            out += self._add(item)
            self._calls[position] = len(self._output) - 1
        index = self._calls[position]
        item = self._output[index]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item["arguments"] += arguments
            out += self._event(
                "response.function_call_arguments.delta",
                {"item_id": item["id"], "output_index": index, "delta": arguments},
            )
        return out

    def _close_text(self) -> bytes:
        if self._open is None:
            return b""
        index = len(self._output) - 1
        item = self._output[index]
        kind, self._open = self._open, None
        if kind == "reasoning":
            part = item["summary"][0]
            out = self._event(
                "response.reasoning_summary_text.done",
                {"item_id": item["id"], "output_index": index, "summary_index": 0, "text": part["text"]},
            )
            out += self._event(
                "response.reasoning_summary_part.done",
                {"item_id": item["id"], "output_index": index, "summary_index": 0, "part": dict(part)},
            )
        else:
            part = item["content"][0]
            out = self._event(
                "response.output_text.done",
                {
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "text": part["text"],
                    "logprobs": [],
                },
            )
            out += self._event(
                "response.content_part.done",
                {"item_id": item["id"], "output_index": index, "content_index": 0, "part": dict(part)},
            )
            item["status"] = "completed"
        return out + self._event("response.output_item.done", {"output_index": index, "item": _copy(item)})

    def _close_calls(self) -> bytes:
        out = bytearray()
        for index in sorted(self._calls.values()):
            item = self._output[index]
            out += self._event(
                "response.function_call_arguments.done",
                {"item_id": item["id"], "output_index": index, "arguments": item["arguments"]},
            )
            item["status"] = "completed"
            out += self._event("response.output_item.done", {"output_index": index, "item": _copy(item)})
        self._calls.clear()
        return bytes(out)

    def _add(self, item: dict[str, Any]) -> bytes:
        self._output.append(item)
        return self._event(
            "response.output_item.added", {"output_index": len(self._output) - 1, "item": _copy(item)}
        )

    # -- the response object ---------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        return dict(self._response)

    def _final(self, usage: dict[str, Any] | None) -> dict[str, Any]:
        response = dict(self._response)
        response["output"] = [_copy(item) for item in self._output]
        response["usage"] = responses_usage(usage)
        return response

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    """A snapshot of an item as it is now (it keeps growing while the stream runs)."""
    return orjson.loads(orjson.dumps(item))
