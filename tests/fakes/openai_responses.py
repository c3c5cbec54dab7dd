"""OpenAI's Responses API (`POST /v1/responses`) for the fake OpenAI server: a Response object, or
its semantic event stream (`event: <type>` + `data: {"type", "sequence_number", ...}`), built
from a scripted Reply. Written from OpenAI's API reference, independently of the gateway's own
encoder (inbound/responses/), so each checks the other."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson

from tests.fakes.base import Reply


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _items(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.text:
        part = {"type": "output_text", "text": reply.text, "annotations": []}
        items.append(
            {
                "id": "msg_fake0001",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [part],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "id": f"fc_fake{i:04d}",
                "type": "function_call",
                "call_id": f"call_fake{i:04d}",
                "name": call.name,
                "arguments": json.dumps(call.arguments),
                "status": "completed",
            }
        )
    return items


def response_object(reply: Reply, body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    incomplete = reply.finish == "length"
    return {
        "id": "resp_fake0001",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete and status == "completed" else status,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "model": reply.model or body.get("model"),
        "instructions": body.get("instructions"),
        "output": _items(reply) if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "store": body.get("store", True),
        "temperature": 1.0,
        "top_p": 1.0,
        "text": body.get("text", {"format": {"type": "text"}}),
        "usage": _usage(reply) if status == "completed" else None,
        "metadata": body.get("metadata", {}),
    }


def response_events(reply: Reply, body: dict[str, Any]) -> list[bytes]:
    sequence = iter(range(1_000_000))
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        data = {"type": kind, "sequence_number": next(sequence), **fields}
        events.append(f"event: {kind}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n")

    running = response_object(reply, body, status="in_progress")
    emit("response.created", response=running)
    emit("response.in_progress", response=running)
    index = 0
    if reply.text:
        item_id = "msg_fake0001"
        emit(
            "response.output_item.added",
            output_index=index,
            item={
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        )
        empty = {"type": "output_text", "text": "", "annotations": []}
        emit("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=empty)
        for piece in reply.pieces():
            emit(
                "response.output_text.delta",
                item_id=item_id,
                output_index=index,
                content_index=0,
                delta=piece,
            )
        emit(
            "response.output_text.done", item_id=item_id, output_index=index, content_index=0, text=reply.text
        )
        part = {"type": "output_text", "text": reply.text, "annotations": []}
        emit("response.content_part.done", item_id=item_id, output_index=index, content_index=0, part=part)
        emit("response.output_item.done", output_index=index, item=_items(reply)[0])
        index += 1
    for i, call in enumerate(reply.tool_calls):
        done = _items(reply)[index]
        emit(
            "response.output_item.added",
            output_index=index,
            item={**done, "arguments": "", "status": "in_progress"},
        )
        arguments = json.dumps(call.arguments)
        for cut in range(0, len(arguments), 8):
            emit(
                "response.function_call_arguments.delta",
                item_id=done["id"],
                output_index=index,
                delta=arguments[cut : cut + 8],
            )
        emit(
            "response.function_call_arguments.done",
            item_id=done["id"],
            output_index=index,
            arguments=arguments,
        )
        emit("response.output_item.done", output_index=index, item=done)
        index += 1
        del i
    final = response_object(reply, body)
    emit("response.incomplete" if final["status"] == "incomplete" else "response.completed", response=final)
    return events


def error_event() -> bytes:
    data = {
        "type": "error",
        "code": "server_error",
        "message": "The server had an error.",
        "param": None,
        "sequence_number": 99,
    }
    return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"
