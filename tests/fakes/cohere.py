"""A protocol-faithful fake of Cohere's v2 API (api.cohere.com).

Routes: `POST /v2/chat` (JSON, or SSE events when the body says `"stream": true`), `/v2/embed`,
`/v2/rerank`. Auth is a bearer token: none is `401 {"message": "no api key supplied"}`, an
unknown one (when `valid_keys` is set) `401 {"message": "invalid api token"}`. Error bodies are
Cohere's `{"id": ..., "message": ...}` with the status as the only class; the checks the real
API makes cheaply are made here (model given, roles, tool results answering a call made
earlier in the conversation, texts and input_type for embed, documents for rerank).

Streams are SSE events named by their type (`event: content-delta`) whose JSON repeats it in
`type`: message-start, content-start, content-delta per piece, content-end, tool-plan-delta,
tool-call-start/delta/end per call, message-end with finish_reason and usage.
Reply/Error behaviours (tests/fakes/base.py) render in this format; `error_after=N` ends the
stream with a message-end of finish_reason ERROR, Cohere's in-stream failure.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response, stream_events
from tests.fakes.gemini import embedding_values

ROLES = frozenset({"system", "user", "assistant", "tool"})
INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering", "image"})
MAX_TEXTS = 96
STREAM_ERROR = "internal server error, this has been reported to our developers"


class CohereInvalid(Exception):
    """A request the real API refuses with 400."""


class FakeCohere(FakeUpstream):
    def __init__(self, *, valid_keys: set[str] | None = None) -> None:
        super().__init__()
        self.valid_keys = valid_keys

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v2/chat", self.handler(self._chat)),
            web.post("/v2/embed", self.handler(self._embed)),
            web.post("/v2/rerank", self.handler(self._rerank)),
        ]

    async def _prepare(self, request: web.Request, rec: RecordedRequest, validate) -> Any:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token:
            return error_response(401, "no api key supplied")
        if self.valid_keys is not None and token not in self.valid_keys:
            return error_response(401, "invalid api token")
        try:
            body = orjson.loads(rec.body) if rec.body else None
            if not isinstance(body, dict):
                raise CohereInvalid("invalid request: body must be a JSON object")
            if not body.get("model"):
                raise CohereInvalid("invalid request: model must be specified")
            validate(body)
        except orjson.JSONDecodeError:
            return error_response(400, "invalid request: could not parse JSON body")
        except CohereInvalid as exc:
            return error_response(400, str(exc))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return await render_error(behaviour)
        if behaviour.ttfb and not body.get("stream"):
            await asyncio.sleep(behaviour.ttfb)
        return body, behaviour

    async def _chat(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        prepared = await self._prepare(request, rec, validate_chat)
        if isinstance(prepared, web.StreamResponse):
            return prepared
        body, reply = prepared
        if body.get("stream"):
            events = [encode(event) for event in render_stream(reply)]
            error_event = encode(
                {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": STREAM_ERROR}}
            )
            return await stream_events(request, events, reply, error_event, headers=reply.headers)
        if reply.malformed:
            return web.Response(body=b'{"id": "x", "message": {', content_type="application/json")
        return json_response(render_response(reply), headers=reply.headers)

    async def _embed(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        prepared = await self._prepare(request, rec, validate_embed)
        if isinstance(prepared, web.StreamResponse):
            return prepared
        body, reply = prepared
        dimensions = int(body.get("output_dimension") or 8)
        vectors = [embedding_values(text, dimensions) for text in body["texts"]]
        tokens = sum(len(text.split()) for text in body["texts"])
        answer = {
            "id": str(uuid.uuid4()),
            "embeddings": {"float": vectors},
            "texts": body["texts"],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        }
        return json_response(answer, headers=reply.headers)

    async def _rerank(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        prepared = await self._prepare(request, rec, validate_rerank)
        if isinstance(prepared, web.StreamResponse):
            return prepared
        body, reply = prepared
        words = set(body["query"].lower().split())
        scored = [
            (len(words & set(doc.lower().split())) / (len(words) or 1), i)
            for i, doc in enumerate(body["documents"])
        ]
        ranked = sorted(scored, key=lambda pair: (-pair[0], pair[1]))[: body.get("top_n") or len(scored)]
        answer = {
            "id": str(uuid.uuid4()),
            "results": [{"index": i, "relevance_score": round(score, 6)} for score, i in ranked],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }
        return json_response(answer, headers=reply.headers)


# ---- request validation ----------------------------------------------------------------------------


def validate_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise CohereInvalid("invalid request: messages must not be empty")
    called: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise CohereInvalid(f"invalid request: messages[{i}].role must be one of {sorted(ROLES)}")
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if not call.get("id") or not isinstance((call.get("function") or {}).get("arguments"), str):
                    raise CohereInvalid(f"invalid request: messages[{i}].tool_calls needs id and arguments")
                called.add(call["id"])
        if role == "tool" and message.get("tool_call_id") not in called:
            raise CohereInvalid(f"invalid request: tool call id {message.get('tool_call_id')!r} not found")
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        raise CohereInvalid("invalid request: tool_choice must be REQUIRED or NONE")


def validate_embed(body: dict[str, Any]) -> None:
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts:
        raise CohereInvalid("invalid request: texts must not be empty")
    if len(texts) > MAX_TEXTS:
        raise CohereInvalid(f"invalid request: texts must contain at most {MAX_TEXTS} items")
    if body.get("input_type") not in INPUT_TYPES:
        raise CohereInvalid("invalid request: valid input_type must be provided with the provided model")


def validate_rerank(body: dict[str, Any]) -> None:
    if not isinstance(body.get("query"), str) or not body["query"].strip():
        raise CohereInvalid("invalid request: query must not be empty or be only whitespace")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise CohereInvalid("invalid request: list of documents must not be empty")
    if not all(isinstance(doc, str) for doc in documents):
        raise CohereInvalid("invalid request: documents must be strings")


# ---- rendering ---------------------------------------------------------------------------------------


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"id": str(uuid.uuid4()), "message": message}, status=status, headers=headers)


async def render_error(err: Error) -> web.Response:
    if err.ttfb:
        await asyncio.sleep(err.ttfb)
    if err.body is not None:
        return web.Response(
            body=err.body, status=err.status, headers=err.headers, content_type="application/json"
        )
    return error_response(err.status, err.message, err.headers)


def usage(reply: Reply) -> dict[str, Any]:
    counts = {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}
    out: dict[str, Any] = {"billed_units": dict(counts), "tokens": dict(counts)}
    if reply.cached_tokens:
        out["cached_tokens"] = reply.cached_tokens
    return out


def finish_reason(reply: Reply) -> str:
    return reply.finish or ("TOOL_CALL" if reply.tool_calls else "COMPLETE")


def tool_call_id(reply: Reply, index: int) -> str:
    call = reply.tool_calls[index]
    return call.id or f"get_weather_{uuid.uuid5(uuid.NAMESPACE_URL, f'{call.name}{index}').hex[:12]}"


def render_response(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if reply.tool_calls:
        message["tool_plan"] = "I will call the tool."
        message["tool_calls"] = [
            {
                "id": tool_call_id(reply, i),
                "type": "function",
                "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    if reply.text:
        message["content"] = [{"type": "text", "text": reply.text}]
    answer = {
        "id": str(uuid.uuid4()),
        "message": message,
        "finish_reason": finish_reason(reply),
        "usage": usage(reply),
    }
    return {**answer, **reply.extra}


def render_stream(reply: Reply) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "id": str(uuid.uuid4()),
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        }
    ]
    pieces = reply.pieces()
    if pieces:
        events.append(
            {
                "type": "content-start",
                "index": 0,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
        )
        for piece in pieces:
            events.append(
                {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}
            )
        events.append({"type": "content-end", "index": 0})
    if reply.tool_calls:
        events.append(
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will call the tool."}}}
        )
    for i, call in enumerate(reply.tool_calls):
        arguments = orjson.dumps(call.arguments).decode()
        head = {
            "id": tool_call_id(reply, i),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append({"type": "tool-call-start", "index": i, "delta": {"message": {"tool_calls": head}}})
        for start in range(0, len(arguments), 5):
            piece = {"function": {"arguments": arguments[start : start + 5]}}
            events.append(
                {"type": "tool-call-delta", "index": i, "delta": {"message": {"tool_calls": piece}}}
            )
        events.append({"type": "tool-call-end", "index": i})
    events.append(
        {"type": "message-end", "delta": {"finish_reason": finish_reason(reply), "usage": usage(reply)}}
    )
    return events


def encode(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
