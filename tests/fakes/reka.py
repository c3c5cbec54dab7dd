"""A fake of Reka's chat API (`POST /v1/chat`), in the shapes of Reka's `reka-api` SDK.

Auth: `X-Api-Key` (a 401 `{"detail": "Invalid API key"}` otherwise). The body is checked as
Reka's validator would (FastAPI: a 422 `{"detail": [{"loc", "msg", "type"}]}`): known fields
only, roles user/assistant/system/tool_output, media parts `{"type": "image_url", "image_url":
"<url string>"}`, tool calls `{"id", "name", "parameters": {...}}`, tool outputs answering a call
made earlier. Answers: `{"id", "model", "responses": [{"finish_reason", "message"}], "usage":
{"input_tokens", "output_tokens"}}`. Streams: SSE events of the same shape with `chunk`, its
content the whole text so far, the last event with the finish reason and the tool calls.
`error_after=N` sends `{"detail": "..."}` as event N and closes.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response, stream_events

FIELDS = frozenset(
    {
        "messages",
        "model",
        "stream",
        "frequency_penalty",
        "max_tokens",
        "presence_penalty",
        "seed",
        "stop",
        "temperature",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
        "use_search_engine",
    }
)
ROLES = frozenset({"user", "assistant", "system", "tool_output"})


class FakeReka(FakeUpstream):
    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat", self.handler(self._chat))]

    async def _chat(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        key = request.headers.get("x-api-key")
        if not key or (self.api_key is not None and key != self.api_key):
            return json_response({"detail": "Invalid API key"}, status=401)
        body = rec.json if rec.body else None
        problems = validate(body)
        if problems:
            return json_response({"detail": problems}, status=422)
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            return json_response(
                {"detail": behaviour.message}, status=behaviour.status, headers=behaviour.headers
            )
        model = behaviour.model or body["model"]
        if body.get("stream"):
            events = [b"data: " + orjson.dumps(e) + b"\n\n" for e in render_events(behaviour, model)]
            error_event = b"data: " + orjson.dumps({"detail": "Internal server error"}) + b"\n\n"
            return await stream_events(request, events, behaviour, error_event, headers=behaviour.headers)
        if behaviour.ttfb:
            await asyncio.sleep(behaviour.ttfb)
        if behaviour.malformed:
            return web.Response(body=b'{"id": "x", "responses": [', content_type="application/json")
        return json_response(render_answer(behaviour, model), headers=behaviour.headers)


def _problem(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def validate(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return [_problem([], "Input should be a valid dictionary", "dict_type")]
    problems = [
        _problem([k], "Extra inputs are not permitted", "extra_forbidden") for k in body if k not in FIELDS
    ]
    if not isinstance(body.get("model"), str):
        problems.append(_problem(["model"], "Field required", "missing"))
    called: set[str] = set()
    for i, message in enumerate(body.get("messages") or []):
        if message.get("role") not in ROLES:
            problems.append(_problem(["messages", i, "role"], "Input should be a valid role", "enum"))
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            if message.get("role") == "tool_output":
                if part.get("tool_call_id") not in called or not isinstance(part.get("output"), str):
                    problems.append(
                        _problem(["messages", i, "content", j], "Unknown tool call", "value_error")
                    )
            elif part.get("type") == "image_url" and not isinstance(part.get("image_url"), str):
                problems.append(
                    _problem(
                        ["messages", i, "content", j, "image_url"],
                        "Input should be a valid string",
                        "string_type",
                    )
                )
        for call in message.get("tool_calls") or []:
            if not isinstance(call.get("parameters"), dict) or not call.get("id"):
                problems.append(_problem(["messages", i, "tool_calls"], "Invalid tool call", "value_error"))
            called.add(call.get("id"))
    if body.get("tool_choice") not in (None, "auto", "tool", "none"):
        problems.append(_problem(["tool_choice"], "Input should be 'auto', 'tool' or 'none'", "enum"))
    return problems


def _calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": call.id or uuid.uuid4().hex[:12], "name": call.name, "parameters": call.arguments}
        for call in reply.tool_calls
    ]


def _usage(reply: Reply) -> dict[str, int]:
    return {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}


def render_answer(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or ""}
    if reply.tool_calls:
        message["tool_calls"] = _calls(reply)
    return {
        "id": uuid.uuid4().hex,
        "model": model,
        "responses": [{"finish_reason": reply.finish or "stop", "message": message}],
        "usage": _usage(reply),
    }


def render_events(reply: Reply, model: str) -> list[dict[str, Any]]:
    answer_id, text, events = uuid.uuid4().hex, "", []
    for piece in reply.pieces():
        text += piece
        chunk = {"role": "assistant", "content": text}
        events.append(
            {
                "id": answer_id,
                "model": model,
                "responses": [{"chunk": chunk, "finish_reason": None}],
                "usage": _usage(reply),
            }
        )
    last: dict[str, Any] = {"role": "assistant", "content": text}
    if reply.tool_calls:
        last["tool_calls"] = _calls(reply)
    events.append(
        {
            "id": answer_id,
            "model": model,
            "responses": [{"chunk": last, "finish_reason": reply.finish or "stop"}],
            "usage": _usage(reply),
        }
    )
    return events
