"""A protocol-faithful fake of Anthropic's Messages API (`POST /v1/messages`).

Renders the provider-neutral behaviours of `tests/fakes/base.py` the way api.anthropic.com does:
message JSON with text/tool_use blocks and Anthropic usage; `event:`-named SSE streams
(message_start, ping, content blocks, message_delta with cumulative usage, message_stop, no
[DONE]); `{"type":"error","error":{...},"request_id"}` error bodies; a `request-id` header on
every response. It checks requests as the real API does where that is cheap: the key (401; an
`x-api-key` header, or `Authorization: Bearer`, which the anthropic SDK 2.x sends), the
`anthropic-version` header (400), `model`/`max_tokens`/`messages`, roles, and that every
`tool_use` is answered by a `tool_result` in the next message.

`strict_turns` (default on) also refuses a conversation that does not start with a user turn or
whose roles do not alternate. The API once refused these; today it documents that consecutive
same-role turns are combined. Strict mode keeps adapters honest about producing clean turns.

Anthropic-specific reply knobs in `Reply.extra`: `thinking` (text of a thinking block sent before
the answer) and `stop_sequence`; any other key is merged into the message object.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import (
    Error,
    FakeUpstream,
    RecordedRequest,
    Reply,
    json_response,
    stream_events,
)

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

#: `2023-06-01` is what adapters send; the SDK (2.x) sends `2026-10-21`
API_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})

OVERLOADED_EVENT = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

_ALPHABET = string.ascii_letters + string.digits


def anthropic_id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def natural_error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def sse(event: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class RequestRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeAnthropic(FakeUpstream):
    def __init__(self, *, strict_turns: bool = True) -> None:
        super().__init__()
        self.strict_turns = strict_turns

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self.handler(self._messages)),
            web.post("/v1/messages/count_tokens", self.handler(self._count_tokens)),
        ]

    # -- handlers -----------------------------------------------------------------------------
    async def _messages(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        try:
            body = self._validate(rec, messages_required=True)
        except RequestRejected as exc:
            return self.error_response(Error(exc.status, message=exc.message))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            return self.error_response(behaviour)
        reply = behaviour
        headers = {**self._common_headers(), **reply.headers}
        if body.get("stream"):
            return await self._stream(request, body, reply, headers)
        if reply.ttfb:
            await asyncio.sleep(reply.ttfb)
        if reply.malformed:
            return web.Response(
                body=b'{"id": "msg_01', status=200, headers=headers, content_type="application/json"
            )
        return json_response(self.render_message(body, reply), headers=headers)

    async def _count_tokens(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        try:
            self._validate(rec, messages_required=False)
        except RequestRejected as exc:
            return self.error_response(Error(exc.status, message=exc.message))
        return json_response({"input_tokens": max(1, len(rec.body) // 4)}, headers=self._common_headers())

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: Reply, headers: dict[str, str]
    ) -> web.StreamResponse:
        if reply.malformed:
            events = [b'event: message_start\ndata: {"type": "message_start", "mess\n\n']
        else:
            events = self.render_stream(body, reply)
        return await stream_events(request, events, reply, sse("error", OVERLOADED_EVENT), headers)

    # -- validation ---------------------------------------------------------------------------
    def _validate(self, rec: RecordedRequest, messages_required: bool) -> dict[str, Any]:
        bearer = rec.headers.get("authorization", "")
        if not rec.headers.get("x-api-key") and not (bearer.startswith("Bearer ") and bearer[7:].strip()):
            raise RequestRejected(401, "x-api-key header is required")
        version = rec.headers.get("anthropic-version")
        if not version:
            raise RequestRejected(400, "anthropic-version: header is required")
        if version not in API_VERSIONS:
            raise RequestRejected(400, f"anthropic-version: unknown version '{version}'")
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            raise RequestRejected(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise RequestRejected(400, "The request body must be a JSON object.")
        if not body.get("model"):
            raise RequestRejected(400, "model: Field required")
        if messages_required and "max_tokens" not in body:
            raise RequestRejected(400, "max_tokens: Field required")
        self._validate_messages(body.get("messages"))
        return body

    def _validate_messages(self, messages: Any) -> None:
        if not isinstance(messages, list):
            raise RequestRejected(400, "messages: Field required")
        if not messages:
            raise RequestRejected(400, "messages: at least one message is required")
        previous = None
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise RequestRejected(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if self.strict_turns and i == 0 and role != "user":
                raise RequestRejected(400, 'messages: first message must use the "user" role')
            if self.strict_turns and role == previous:
                raise RequestRejected(
                    400,
                    'messages: roles must alternate between "user" and "assistant", '
                    f'but found multiple "{role}" roles in a row',
                )
            previous = role
        for i, message in enumerate(messages):
            self._validate_tool_blocks(messages, i, message)

    def _validate_tool_blocks(self, messages: list[Any], i: int, message: dict[str, Any]) -> None:
        blocks = message.get("content") if isinstance(message.get("content"), list) else []
        role = message["role"]
        for j, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "tool_result" and role != "user":
                raise RequestRejected(
                    400, f"messages.{i}.content.{j}: tool_result blocks belong in user messages"
                )
            if kind == "tool_use" and role != "assistant":
                raise RequestRejected(
                    400, f"messages.{i}.content.{j}: tool_use blocks belong in assistant messages"
                )
        ids = [b.get("id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not ids or i == len(messages) - 1:
            return
        following = messages[i + 1].get("content")
        answered = {
            b.get("tool_use_id")
            for b in (following if isinstance(following, list) else [])
            if isinstance(b, dict) and b.get("type") == "tool_result"
        }
        missing = [tool_id for tool_id in ids if tool_id not in answered]
        if missing:
            raise RequestRejected(
                400,
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message.",
            )

    # -- rendering ----------------------------------------------------------------------------
    def _common_headers(self) -> dict[str, str]:
        return {
            "request-id": anthropic_id("req_"),
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:00Z",
        }

    def error_response(self, error: Error) -> web.Response:
        headers = {**self._common_headers(), **error.headers}
        if error.body is not None:
            return web.Response(
                body=error.body, status=error.status, headers=headers, content_type="application/json"
            )
        payload = {
            "type": "error",
            "error": {"type": error.type or natural_error_type(error.status), "message": error.message},
            "request_id": headers["request-id"],
        }
        return json_response(payload, status=error.status, headers=headers)

    @staticmethod
    def usage(reply: Reply) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": max(0, reply.prompt_tokens - reply.cached_tokens),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
            "output_tokens": reply.completion_tokens,
        }
        if reply.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": reply.reasoning_tokens}
        return usage

    @staticmethod
    def stop_reason(reply: Reply) -> str:
        return reply.finish or ("tool_use" if reply.tool_calls else "end_turn")

    def _tool_blocks(self, reply: Reply) -> list[dict[str, Any]]:
        return [
            {
                "type": "tool_use",
                "id": call.id or anthropic_id("toolu_"),
                "name": call.name,
                "input": call.arguments,
            }
            for call in reply.tool_calls
        ]

    def _extra(self, reply: Reply) -> tuple[str | None, str | None, dict[str, Any]]:
        extra = dict(reply.extra)
        return extra.pop("thinking", None), extra.pop("stop_sequence", None), extra

    def render_message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        thinking, stop_sequence, extra = self._extra(reply)
        content: list[dict[str, Any]] = []
        if thinking:
            content.append({"type": "thinking", "thinking": thinking, "signature": "c2lnbmF0dXJl"})
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        content.extend(self._tool_blocks(reply))
        message = {
            "id": anthropic_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": reply.model or body.get("model"),
            "content": content,
            "stop_reason": self.stop_reason(reply),
            "stop_sequence": stop_sequence,
            "usage": self.usage(reply),
        }
        message.update(extra)
        return message

    def render_stream(self, body: dict[str, Any], reply: Reply) -> list[bytes]:
        thinking, stop_sequence, extra = self._extra(reply)
        usage = self.usage(reply)
        start_usage = {**usage, "output_tokens": 1}
        start_usage.pop("output_tokens_details", None)
        message = {
            "id": anthropic_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": reply.model or body.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
            **extra,
        }
        events = [
            sse("message_start", {"type": "message_start", "message": message}),
            sse("ping", {"type": "ping"}),
        ]
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if thinking:
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _split(thinking, 3)]
            deltas.append({"type": "signature_delta", "signature": "c2lnbmF0dXJl"})
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if reply.text:
            blocks.append(
                ({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in reply.pieces()])
            )
        for tool in self._tool_blocks(reply):
            # The API opens with an empty fragment, then sends the input JSON in pieces.
            fragments = [""] + _split(orjson.dumps(tool["input"]).decode(), 3)
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
            blocks.append(({**tool, "input": {}}, deltas))
        for index, (block, deltas) in enumerate(blocks):
            events.append(
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
            for delta in deltas:
                events.append(
                    sse(
                        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                    )
                )
            events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        delta = {"stop_reason": self.stop_reason(reply), "stop_sequence": stop_sequence}
        events.append(sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(sse("message_stop", {"type": "message_stop"}))
        return events


def _split(text: str, parts: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
