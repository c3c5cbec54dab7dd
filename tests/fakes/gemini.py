"""A protocol-faithful fake of the Gemini API (generativelanguage.googleapis.com).

Routes: `POST /{version}/models/{model}:generateContent`, `:streamGenerateContent` (SSE frames
with `?alt=sse`, otherwise one JSON array streamed element by element), `:batchEmbedContents`
and `:embedContent`. aiohttp's `{name}` segment matches `gemini-2.0-flash:generateContent`
whole (a colon is an ordinary path character), so the handler splits model and method itself.

Auth follows the real API: the key comes in `x-goog-api-key` or `?key=`; no key is
`403 PERMISSION_DENIED`, an unknown key (when `valid_keys` is set) `400 INVALID_ARGUMENT` with
an ErrorInfo detail of reason `API_KEY_INVALID`.

Reply/Error behaviours (tests/fakes/base.py) render in Gemini's wire format. Gemini-specific:
  * `Reply(finish="SAFETY", text=None)`: a candidate with finishReason SAFETY and no content.
  * `Reply(text=None, extra={"promptFeedback": {"blockReason": "SAFETY"}})`: no candidates.
  * `Error(status, type=<RPC status>, code=<ErrorInfo reason>)`; a 429 whose headers carry
    retry-after also gets a RetryInfo detail (`retryDelay: "<n>s"`).
  * `error_after=N` in a stream: Gemini has no error event, so frame N is `data: {"error": ...}`
    (503 UNAVAILABLE) and the connection closes.
  * `FakeGemini(crlf=True)` frames SSE events with CRLF line ends, as Google front ends are
    reported to (Vertex AI does); the default is LF.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import struct
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import (
    Error,
    FakeUpstream,
    RecordedRequest,
    Reply,
    ToolCall,
    json_response,
    stream_events,
)

RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
NO_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
BAD_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
STREAM_ERROR = {
    "code": 503,
    "message": "The model is overloaded. Please try again later.",
    "status": "UNAVAILABLE",
}
HARM_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)
BLOCKING_FINISHES = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
CHAT_METHODS = frozenset({"generateContent", "streamGenerateContent"})
EMBED_METHODS = frozenset({"batchEmbedContents", "embedContent"})
DEFAULT_DIMENSIONS = 8


class GeminiInvalid(Exception):
    """A request the real API refuses with 400 INVALID_ARGUMENT."""


class FakeGemini(FakeUpstream):
    def __init__(self, *, valid_keys: set[str] | None = None, crlf: bool = False) -> None:
        super().__init__()
        #: when set, only these keys are accepted; others get the API_KEY_INVALID answer
        self.valid_keys = valid_keys
        self.separator = b"\r\n\r\n" if crlf else b"\n\n"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/{version}/models/{name}", self.handler(self._dispatch))]

    # -- dispatch ------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        model, _, method = request.match_info["name"].partition(":")
        if method not in CHAT_METHODS | EMBED_METHODS:
            return error_response(404, f"Method '{method}' not found on models/{model}.")
        auth = self._check_key(request)
        if auth is not None:
            return auth
        try:
            body = orjson.loads(rec.body) if rec.body else {}
            if not isinstance(body, dict):
                raise GeminiInvalid("Invalid JSON payload received. Expected an object.")
            if method in CHAT_METHODS:
                validate_generate_request(body)
            else:
                validate_embed_request(body, model, method)
        except orjson.JSONDecodeError:
            return error_response(400, "Invalid JSON payload received. Unexpected token.")
        except GeminiInvalid as exc:
            return error_response(400, str(exc))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return await render_error(behaviour)
        if method in EMBED_METHODS:
            return await self._embed(behaviour, body, method)
        if method == "generateContent":
            return await self._generate(behaviour, model)
        return await self._stream(request, behaviour, model)

    def _check_key(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return error_response(403, NO_KEY_MESSAGE)
        if self.valid_keys is not None and key not in self.valid_keys:
            return error_response(400, BAD_KEY_MESSAGE, details=api_key_invalid_details())
        return None

    # -- generateContent -----------------------------------------------------------------------
    async def _generate(self, reply: Reply, model: str) -> web.StreamResponse:
        if reply.ttfb:
            await asyncio.sleep(reply.ttfb)
        if reply.malformed:
            return web.Response(body=b'{"candidates": [{"content": ', content_type="application/json")
        return json_response(render_response(reply, model), headers=reply.headers)

    async def _stream(self, request: web.Request, reply: Reply, model: str) -> web.StreamResponse:
        frames = render_stream(reply, model)
        if request.query.get("alt") == "sse":
            events = [b"data: " + orjson.dumps(f) + self.separator for f in frames]
            if reply.malformed:
                events = [b'data: {"candidates": [{"content": ' + self.separator]
            error_event = b"data: " + orjson.dumps({"error": STREAM_ERROR}) + self.separator
            return await stream_events(request, events, reply, error_event, headers=reply.headers)
        # Without alt=sse: one JSON array, written element by element as the real API does.
        events = [
            (b"[" if i == 0 else b",\r\n") + orjson.dumps(f, option=orjson.OPT_INDENT_2)
            for i, f in enumerate(frames)
        ]
        events[-1] += b"]"
        if reply.malformed:
            events = [b'[{"candidates": [{"content": ']
        lead = b"[" if reply.error_after == 0 else b",\r\n"
        error_event = lead + orjson.dumps({"error": STREAM_ERROR}, option=orjson.OPT_INDENT_2) + b"]"
        headers = {"Content-Type": "application/json; charset=UTF-8", **reply.headers}
        return await stream_events(request, events, reply, error_event, headers=headers)

    # -- embeddings ----------------------------------------------------------------------------
    async def _embed(self, reply: Reply, body: dict[str, Any], method: str) -> web.StreamResponse:
        if reply.ttfb:
            await asyncio.sleep(reply.ttfb)
        if reply.malformed:
            return web.Response(body=b'{"embeddings": [', content_type="application/json")
        if method == "embedContent":
            return json_response({"embedding": embed_one(body)}, headers=reply.headers)
        embeddings = [embed_one(item) for item in body["requests"]]
        return json_response({"embeddings": embeddings}, headers=reply.headers)


# ---- request validation (what the real API refuses cheaply) --------------------------------------


def validate_generate_request(body: dict[str, Any]) -> None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GeminiInvalid("* GenerateContentRequest.contents: contents is not specified\n")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise GeminiInvalid(f"Invalid value at 'contents[{i}]': expected an object.")
        if content.get("role") not in (None, "user", "model"):
            raise GeminiInvalid("Please use a valid role: user, model.")
        if not content.get("parts"):
            raise GeminiInvalid(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            )


def validate_embed_request(body: dict[str, Any], model: str, method: str) -> None:
    items = [body] if method == "embedContent" else body.get("requests")
    if not isinstance(items, list) or not items:
        raise GeminiInvalid("* BatchEmbedContentsRequest.requests: at least one request is required.\n")
    for i, item in enumerate(items):
        parts = (item.get("content") or {}).get("parts") if isinstance(item, dict) else None
        if not parts:
            raise GeminiInvalid(
                f"* BatchEmbedContentsRequest.requests[{i}].content.parts: must not be empty.\n"
            )
        if method == "batchEmbedContents" and item.get("model") != f"models/{model}":
            raise GeminiInvalid(
                f"* BatchEmbedContentsRequest.requests[{i}].model: unexpected model name format"
                if not str(item.get("model", "")).startswith("models/")
                else f"Model in batch request [{i}] does not match the model in the URL."
            )


# ---- rendering -----------------------------------------------------------------------------------


def error_payload(
    status: int, message: str, rpc_status: str | None = None, details: list | None = None
) -> dict:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": rpc_status or RPC_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def error_response(status: int, message: str, details: list | None = None) -> web.Response:
    return json_response(error_payload(status, message, details=details), status=status)


def api_key_invalid_details() -> list[dict[str, Any]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": BAD_KEY_MESSAGE,
        },
    ]


async def render_error(err: Error) -> web.Response:
    if err.ttfb:
        await asyncio.sleep(err.ttfb)
    if err.body is not None:
        return web.Response(
            body=err.body, status=err.status, headers=err.headers, content_type="application/json"
        )
    details: list[dict[str, Any]] = []
    if err.code:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": err.code,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    retry_after = {k.lower(): v for k, v in err.headers.items()}.get("retry-after")
    if err.status == 429 and retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"})
    payload = error_payload(err.status, err.message, err.type, details)
    return json_response(payload, status=err.status, headers=err.headers)


def new_response_id() -> str:
    return secrets.token_urlsafe(17)


def safety_ratings(finish: str) -> list[dict[str, Any]]:
    ratings = [{"category": c, "probability": "NEGLIGIBLE"} for c in HARM_CATEGORIES]
    if finish == "SAFETY":
        ratings[1] = {"category": HARM_CATEGORIES[1], "probability": "HIGH", "blocked": True}
    return ratings


def usage_metadata(reply: Reply, final: bool = True) -> dict[str, Any]:
    """Final usage; intermediate stream frames carry only the prompt side, as the real API does."""
    usage: dict[str, Any] = {"promptTokenCount": reply.prompt_tokens}
    candidates = reply.completion_tokens if final else 0
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = reply.prompt_tokens + candidates + reply.reasoning_tokens
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}]
    if reply.cached_tokens:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": reply.cached_tokens}]
    if reply.reasoning_tokens:
        usage["thoughtsTokenCount"] = reply.reasoning_tokens
    return usage


def function_call_part(call: ToolCall) -> dict[str, Any]:
    return {"functionCall": {"name": call.name, "args": call.arguments}}


def prompt_blocked(reply: Reply) -> bool:
    feedback = reply.extra.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def _frame(reply: Reply, model: str, response_id: str, candidate: dict | None, usage: dict) -> dict[str, Any]:
    frame: dict[str, Any] = {}
    if candidate is not None:
        frame["candidates"] = [candidate]
    frame["usageMetadata"] = usage
    frame["modelVersion"] = reply.model or model
    frame["responseId"] = response_id
    return frame


def _candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    if finish:
        candidate["finishReason"] = finish
        candidate["safetyRatings"] = safety_ratings(finish)
    candidate["index"] = 0
    return candidate


def render_response(reply: Reply, model: str) -> dict[str, Any]:
    """The generateContent answer for a Reply."""
    response_id = new_response_id()
    if prompt_blocked(reply):
        usage = {"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens}
        return {**_frame(reply, model, response_id, None, usage), **reply.extra}
    parts = [{"text": reply.text}] if reply.text else []
    parts += [function_call_part(c) for c in reply.tool_calls]
    candidate = _candidate(parts, reply.finish or "STOP")
    return {**_frame(reply, model, response_id, candidate, usage_metadata(reply)), **reply.extra}


def render_stream(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The streamGenerateContent frames for a Reply: a frame per text piece, function calls
    whole in one frame, finishReason and the final usage on the last frame."""
    response_id = new_response_id()
    if prompt_blocked(reply):
        usage = {"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens}
        return [{**_frame(reply, model, response_id, None, usage), **reply.extra}]
    finish = reply.finish or "STOP"
    part_groups: list[list[dict[str, Any]]] = [[{"text": piece}] for piece in reply.pieces()]
    if reply.tool_calls:
        part_groups.append([function_call_part(c) for c in reply.tool_calls])
    if finish in BLOCKING_FINISHES or not part_groups:
        part_groups.append([])  # the block verdict arrives in a frame of its own, without content
    frames = []
    for i, parts in enumerate(part_groups):
        last = i == len(part_groups) - 1
        candidate = _candidate(parts, finish if last else None)
        frames.append(_frame(reply, model, response_id, candidate, usage_metadata(reply, final=last)))
    frames[-1].update(reply.extra)
    return frames


def embedding_values(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """Deterministic unit-range floats from the text's SHA-256 (extended by re-hashing)."""
    digest = b""
    seed = text.encode()
    while len(digest) < dimensions * 4:
        seed = hashlib.sha256(seed).digest()
        digest += seed
    words = struct.unpack(f">{dimensions}I", digest[: dimensions * 4])
    return [round(w / 0xFFFFFFFF * 2 - 1, 6) for w in words]


def embed_one(request: dict[str, Any]) -> dict[str, Any]:
    text = "".join(str(p.get("text") or "") for p in request["content"]["parts"] if isinstance(p, dict))
    dimensions = int(request.get("outputDimensionality") or DEFAULT_DIMENSIONS)
    return {"values": embedding_values(text, dimensions)}
