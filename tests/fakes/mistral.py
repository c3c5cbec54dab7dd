"""A protocol-faithful fake of Mistral AI's API (api.mistral.ai/v1).

Routes: `POST /v1/chat/completions` (JSON, or SSE chunks ending `data: [DONE]`), `/v1/embeddings`.
Mistral validates strictly and the fake does too: a field Mistral does not know is a 422 whose
message is `{"detail": [{"type": "extra_forbidden", "loc": ["body", <field>], "msg": "Extra
inputs are not permitted", "input": ...}]}`; a tool-call id that is not nine characters of
[a-zA-Z0-9] is a 400. Errors are `{"object": "error", "message", "type", "param", "code"}`; a
missing or wrong key is a 401 `{"message": "Unauthorized", "request_id": ...}`.

Answers carry nine-character tool-call ids; streams send a tool call whole in one chunk and the
usage on the last chunk (Mistral has no `stream_options`). `error_after=N` ends the stream with
an error object after N events.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import struct
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response, stream_events

CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "prompt_mode",
        "safe_prompt",
    }
)
EMBED_FIELDS = frozenset({"model", "input", "output_dimension", "output_dtype", "encoding_format"})
MESSAGE_FIELDS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name", "prefix"})
TOOL_CALL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
ERROR_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limited",
    500: "internal_error",
}


class MistralRefusal(Exception):
    def __init__(self, status: int, message: Any) -> None:
        super().__init__(str(message))
        self.status, self.message = status, message


class FakeMistral(FakeUpstream):
    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.handler(self._chat)),
            web.post("/v1/embeddings", self.handler(self._embeddings)),
        ]

    async def _prepare(self, request: web.Request, rec: RecordedRequest, validate) -> Any:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or (self.api_key is not None and token != self.api_key):
            return json_response({"message": "Unauthorized", "request_id": uuid.uuid4().hex}, status=401)
        try:
            body = orjson.loads(rec.body) if rec.body else None
            if not isinstance(body, dict):
                raise MistralRefusal(400, "Invalid JSON body")
            validate(body)
        except orjson.JSONDecodeError:
            return error_response(400, "Invalid JSON body")
        except MistralRefusal as refusal:
            return error_response(refusal.status, refusal.message)
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            return error_response(
                behaviour.status, behaviour.message, behaviour.type, behaviour.code, behaviour.headers
            )
        return body, behaviour

    async def _chat(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        prepared = await self._prepare(request, rec, validate_chat)
        if isinstance(prepared, web.StreamResponse):
            return prepared
        body, reply = prepared
        model = reply.model or body["model"]
        if body.get("stream"):
            events = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in render_chunks(reply, model)]
            events.append(b"data: [DONE]\n\n")
            error = {
                "object": "error",
                "message": "Internal server error",
                "type": "internal_error",
                "param": None,
                "code": None,
            }
            return await stream_events(
                request, events, reply, b"data: " + orjson.dumps(error) + b"\n\n", reply.headers
            )
        if reply.ttfb:
            await asyncio.sleep(reply.ttfb)
        if reply.malformed:
            return web.Response(body=b'{"id": "x", "choices": [', content_type="application/json")
        return json_response(render_completion(reply, model), headers=reply.headers)

    async def _embeddings(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        prepared = await self._prepare(request, rec, validate_embeddings)
        if isinstance(prepared, web.StreamResponse):
            return prepared
        body, _ = prepared
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = int(body.get("output_dimension") or 4)
        encode = _base64 if body.get("encoding_format") == "base64" else list
        data = [
            {"object": "embedding", "index": i, "embedding": encode(_vector(item, dims))}
            for i, item in enumerate(items)
        ]
        tokens = sum(len(str(item).split()) for item in items)
        return json_response(
            {
                "id": uuid.uuid4().hex,
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
            }
        )


def _extra_forbidden(
    body: dict[str, Any], allowed: frozenset[str], where: tuple[Any, ...] = ("body",)
) -> None:
    extra = [key for key in body if key not in allowed]
    if extra:
        detail = [
            {
                "type": "extra_forbidden",
                "loc": [*where, key],
                "msg": "Extra inputs are not permitted",
                "input": body[key],
            }
            for key in extra
        ]
        raise MistralRefusal(422, {"detail": detail})


def validate_chat(body: dict[str, Any]) -> None:
    _extra_forbidden(body, CHAT_FIELDS)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MistralRefusal(400, "Messages must not be empty")
    for i, message in enumerate(messages):
        _extra_forbidden(message, MESSAGE_FIELDS, ("body", "messages", i))
        ids = [call.get("id", "") for call in message.get("tool_calls") or []]
        if message.get("role") == "tool":
            ids.append(message.get("tool_call_id", ""))
        for call_id in ids:
            if not TOOL_CALL_ID.match(str(call_id)):
                raise MistralRefusal(
                    400, f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9."
                )
        if (
            message.get("role") == "assistant"
            and not message.get("content")
            and not message.get("tool_calls")
        ):
            raise MistralRefusal(
                400, "Assistant message must have either content or tool_calls, but not none."
            )


def validate_embeddings(body: dict[str, Any]) -> None:
    _extra_forbidden(body, EMBED_FIELDS)
    if not body.get("input"):
        raise MistralRefusal(400, "Input must not be empty")


def error_response(
    status: int,
    message: Any,
    kind: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    payload = {
        "object": "error",
        "message": message,
        "type": kind or ERROR_TYPES.get(status, "invalid_request_error"),
        "param": None,
        "code": code,
    }
    return json_response(payload, status=status, headers=headers)


def tool_call_id(reply: Reply, index: int) -> str:
    call = reply.tool_calls[index]
    return call.id or hashlib.sha256(f"{call.name}{index}{time.time_ns()}".encode()).hexdigest()[:9]


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": tool_call_id(reply, i),
            "type": "function",
            "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
            "index": i,
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def render_completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or "", "prefix": False}
    if reply.tool_calls:
        message["tool_calls"] = _calls(reply)
    finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
    return {
        "id": uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(reply),
        **reply.extra,
    }


def render_chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    base = {
        "id": uuid.uuid4().hex,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            out["usage"] = usage
        return out

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in reply.pieces()]
    if reply.tool_calls:
        chunks.append(chunk({"tool_calls": _calls(reply)}))
    finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
    chunks.append(chunk({"content": ""}, finish, _usage(reply)))
    return chunks


def _base64(vector: list[float]) -> str:
    """Little-endian float32s, base64: OpenAI's and Mistral's `encoding_format: base64`."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _vector(item: Any, dims: int) -> list[float]:
    digest = hashlib.sha256(orjson.dumps(item)).digest()
    return [digest[i % 32] / 255.0 for i in range(dims)]
