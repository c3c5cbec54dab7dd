"""A fake OpenAI (and Azure OpenAI) server speaking the real wire format.

Paths: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses (tests/fakes/
openai_responses.py), /v1/models, and Azure's
/openai/deployments/{deployment}/{chat/completions|completions|embeddings}?api-version=...
Auth: `Authorization: Bearer` on OpenAI paths, `api-key` on Azure paths (401 otherwise, with
OpenAI's error body). Streams follow OpenAI's framing: role chunk, content chunks, tool-call
deltas (id/name first, then argument fragments), finish chunk, usage chunk with
`stream_options.include_usage`, then `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import openai_responses as responses_api
from tests.fakes.base import (
    Error,
    FakeUpstream,
    RecordedRequest,
    Reply,
    compress,
    compressed_events,
    json_response,
    stream_events,
    wait_gate,
)

_NATURAL_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
}


class FakeOpenAI(FakeUpstream):
    def __init__(self, api_key: str = "sk-fake-openai-key-0123456789abcdef") -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.handler(self._chat)),
            web.post("/v1/completions", self.handler(self._completions)),
            web.post("/v1/embeddings", self.handler(self._embeddings)),
            web.post("/v1/responses", self.handler(self._responses)),
            web.get("/v1/models", self.handler(self._models)),
            web.post("/openai/deployments/{deployment}/chat/completions", self.handler(self._chat)),
            web.post("/openai/deployments/{deployment}/completions", self.handler(self._completions)),
            web.post("/openai/deployments/{deployment}/embeddings", self.handler(self._embeddings)),
        ]

    # -- auth and errors --------------------------------------------------------------------------
    def _auth_error(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        if request.path.startswith("/openai/"):
            if rec.headers.get("api-key") != self.api_key:
                return self._error(Error(401, message="Access denied due to invalid subscription key."))
            if "api-version" not in rec.query:
                return self._error(Error(404, message="Resource not found"))
            return None
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            shown = (rec.headers.get("authorization") or "").removeprefix("Bearer ")
            # The real API echoes part of a wrong key: the gateway must never pass that on.
            return self._error(
                Error(
                    401,
                    message=f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                )
            )
        return None

    def _error(self, error: Error) -> web.Response:
        kind, code = _NATURAL_TYPES.get(error.status, ("server_error", None))
        body = error.body or orjson.dumps(
            {
                "error": {
                    "message": error.message,
                    "type": error.type or kind,
                    "param": None,
                    "code": error.code or code,
                }
            }
        )
        headers = {"x-request-id": "req_fake" + hashlib.md5(body).hexdigest()[:12], **error.headers}  # noqa: S324
        return web.Response(status=error.status, body=body, headers=headers, content_type="application/json")

    async def _behaviour(self, request: web.Request, rec: RecordedRequest) -> Reply | web.Response:
        denied = self._auth_error(request, rec)
        if denied is not None:
            return denied
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            return self._error(behaviour)
        return behaviour

    # -- chat ---------------------------------------------------------------------------------------
    async def _chat(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        reply = await self._behaviour(request, rec)
        if isinstance(reply, web.Response):
            return reply
        body = rec.json or {}
        model = reply.model or body.get("model") or request.match_info.get("deployment", "gpt-fake")
        if not body.get("stream"):
            if reply.ttfb:
                await asyncio.sleep(reply.ttfb)
            if reply.gate is not None:
                await wait_gate(reply.gate)
            if reply.raw_body is not None:
                body, headers = reply.raw_body, dict(reply.headers)
                if reply.content_encoding:
                    body = compress(body, reply.content_encoding)
                    headers["Content-Encoding"] = reply.content_encoding
                return web.Response(status=200, body=body, headers=headers, content_type="application/json")
            if reply.malformed:
                return web.Response(
                    status=200,
                    body=b'{"id": "chatcmpl-broken", "choices": [',
                    content_type="application/json",
                )
            return json_response(
                chat_completion(reply, model, int(body.get("n") or 1)), headers=reply.headers
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chat_chunks(reply, model, include_usage)]
        events.append(b"data: [DONE]\n\n")
        if reply.raw_events is not None:
            events = reply.raw_events
        stream_headers = {"x-request-id": "req_fakestream", **reply.headers}
        if reply.content_encoding:
            events = compressed_events(events, reply.content_encoding)
            stream_headers["Content-Encoding"] = reply.content_encoding
        error_event = (
            b"data: "
            + orjson.dumps(
                {
                    "error": {
                        "message": "The server had an error while processing your request.",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
            )
            + b"\n\n"
        )
        return await stream_events(request, events, reply, error_event, headers=stream_headers)

    async def _responses(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        reply = await self._behaviour(request, rec)
        if isinstance(reply, web.Response):
            return reply
        body = rec.json or {}
        if not body.get("stream"):
            return json_response(responses_api.response_object(reply, body), headers=reply.headers)
        events = responses_api.response_events(reply, body)
        return await stream_events(
            request, events, reply, responses_api.error_event(), headers={"x-request-id": "req_fakeresp"}
        )

    async def _completions(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        reply = await self._behaviour(request, rec)
        if isinstance(reply, web.Response):
            return reply
        body = rec.json or {}
        model = reply.model or body.get("model")
        base = {"id": "cmpl-fake0001", "object": "text_completion", "created": 1_700_000_000, "model": model}
        usage = _usage(reply)
        if not body.get("stream"):
            choice = {
                "text": reply.text or "",
                "index": 0,
                "logprobs": None,
                "finish_reason": reply.finish or "stop",
            }
            return json_response({**base, "choices": [choice], "usage": usage})
        events = [
            b"data: "
            + orjson.dumps(
                {**base, "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": None}]}
            )
            + b"\n\n"
            for piece in reply.pieces()
        ]
        events.append(
            b"data: "
            + orjson.dumps(
                {
                    **base,
                    "choices": [
                        {"text": "", "index": 0, "logprobs": None, "finish_reason": reply.finish or "stop"}
                    ],
                }
            )
            + b"\n\n"
        )
        events.append(b"data: [DONE]\n\n")
        return await stream_events(request, events, reply)

    async def _embeddings(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        reply = await self._behaviour(request, rec)
        if isinstance(reply, web.Response):
            return reply
        body = rec.json or {}
        items = body["input"] if isinstance(body.get("input"), list) else [body.get("input")]
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(item, int(body.get("dimensions") or 4))}
            for i, item in enumerate(items)
        ]
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": 3 * len(items), "total_tokens": 3 * len(items)},
            }
        )

    async def _models(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return json_response(
            {
                "object": "list",
                "data": [{"id": "gpt-fake", "object": "model", "created": 1, "owned_by": "fake"}],
            }
        )


def _vector(item: Any, dims: int) -> list[float]:
    digest = hashlib.sha256(orjson.dumps(item)).digest()
    return [digest[i] / 255.0 for i in range(dims)]


def _usage(reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    return usage


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or f"call_fake{i:04d}",
            "type": "function",
            "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def chat_completion(reply: Reply, model: str, n: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
    return {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
        "choices": [
            {"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)
        ],
        "usage": _usage(reply),
        **reply.extra,
    }


def chat_chunks(reply: Reply, model: str, include_usage: bool) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in reply.pieces()]
    for index, call in enumerate(_tool_calls(reply)):
        arguments = call["function"]["arguments"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        middle = max(1, len(arguments) // 2)
        for fragment in (arguments[:middle], arguments[middle:]):
            if fragment:
                chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
    chunks.append(chunk({}, reply.finish or ("tool_calls" if reply.tool_calls else "stop")))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(reply)})
    return chunks
