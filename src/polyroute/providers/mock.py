"""The mock provider: an in-process OpenAI-compatible upstream for trying and testing offline.

`mock/<anything>` answers deterministically, in OpenAI's real wire format (JSON, or SSE chunks
ending in [DONE]), through the same pipeline as a real upstream. Settings (litellm_params):

  mock_response           fixed reply text (LiteLLM's name; also accepted per request)
  mock_latency_ms         delay before the first byte            (default 0)
  mock_chunk_latency_ms   delay between stream chunks            (default 0)
  mock_stream_chunks      how many content chunks a stream has   (default: one per word)
  mock_error_rate         share of requests answered with an error, 0..1, from a seeded RNG
  mock_error_status       status of those errors                 (default 429)
  mock_seed               seed of that RNG                       (default 0)

Without `mock_response`, the reply echoes the last user text. With tools offered (and
tool_choice not "none") and no tool result yet, it calls the chosen or first tool with arguments
built from the tool's JSON schema; after a tool result it answers with that result.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from polyroute.providers.base import ProviderCall, WireRequest
from polyroute.providers.openai_compat import OpenAICompatibleAdapter

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


class MockAdapter(OpenAICompatibleAdapter):
    supports = frozenset({"chat", "embeddings"})

    def __init__(self) -> None:
        super().__init__(name="mock", env_key=None, default_api_base="mock://local", key_optional=True)
        self._transport = MockTransport()

    def headers(self, call: ProviderCall) -> dict[str, str]:
        # The deployment's settings travel to the in-process upstream as one header.
        settings = {k: v for k, v in call.extras.items() if k.startswith("mock_")}
        return {"content-type": "application/json", "x-mock-settings": orjson.dumps(settings).decode()}

    def transport(self, http: Any = None) -> MockTransport:
        return self._transport


class MockResponse:
    def __init__(
        self, status: int, body: bytes | None, chunks: list[bytes] | None, chunk_delay: float
    ) -> None:
        self.status = status
        self.headers: Mapping[str, str] = {
            "content-type": "text/event-stream" if chunks is not None else "application/json",
            "x-request-id": "req_mock",
        }
        self._body = body or b""
        self._chunks = chunks or []
        self._chunk_delay = chunk_delay

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for i, chunk in enumerate(self._chunks):
            if i and self._chunk_delay:
                await asyncio.sleep(self._chunk_delay)
            yield chunk

    def close(self) -> None:
        return None


class MockTransport:
    """Plays an OpenAI-compatible server in process. One RNG per seed keeps error draws repeatable."""

    in_process = True  # no network I/O: safe whatever URL a client chose

    def __init__(self) -> None:
        self._rngs: dict[int, random.Random] = {}

    async def send(self, wire: WireRequest, connect_timeout: float | None = None) -> MockResponse:
        settings = orjson.loads(wire.headers.get("x-mock-settings", "{}"))
        request = orjson.loads(wire.body)
        latency = float(settings.get("mock_latency_ms", 0)) / 1000.0
        if latency:
            await asyncio.sleep(latency)
        rate = float(settings.get("mock_error_rate", 0))
        if rate > 0:
            rng = self._rngs.setdefault(
                int(settings.get("mock_seed", 0)),
                random.Random(int(settings.get("mock_seed", 0))),  # noqa: S311  # test data, not crypto
            )
            if rng.random() < rate:
                return error_response(int(settings.get("mock_error_status", 429)))
        if wire.url.endswith("/embeddings"):
            return MockResponse(200, orjson.dumps(embeddings(request)), None, 0)
        reply = chat_reply(request, settings)
        chunk_delay = float(settings.get("mock_chunk_latency_ms", 0)) / 1000.0
        if request.get("stream"):
            return MockResponse(200, None, stream_chunks(request, reply, settings), chunk_delay)
        return MockResponse(200, orjson.dumps(reply), None, 0)


def error_response(status: int) -> MockResponse:
    kind, code = _ERROR_TYPES.get(status, ("server_error", None))
    body = {"error": {"message": f"mock error (HTTP {status})", "type": kind, "param": None, "code": code}}
    response = MockResponse(status, orjson.dumps(body), None, 0)
    if status == 429:
        response.headers = {**response.headers, "retry-after": "1"}
    return response


# -- reply construction ------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _arguments_for(schema: Any) -> dict[str, Any]:
    """Deterministic arguments satisfying a tool's JSON schema's required properties."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    samples = {"string": "mock", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}
    out: dict[str, Any] = {}
    for name in schema.get("required") or list(props)[:1]:
        prop = props.get(name) or {}
        if isinstance(prop.get("enum"), list) and prop["enum"]:
            out[name] = prop["enum"][0]
        else:
            out[name] = samples.get(prop.get("type"), "mock")
    return out


def _pick_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    tools = request.get("tools") or []
    choice = request.get("tool_choice", "auto")
    messages = request.get("messages") or []
    if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((t for t in tools if (t.get("function") or {}).get("name") == wanted), None)
    return tools[0]


def chat_reply(request: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    messages = request.get("messages") or []
    prompt_text = " ".join(_text_of(m.get("content")) for m in messages)
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    finish = "stop"
    tool = _pick_tool(request)
    fixed = request.get("mock_response", settings.get("mock_response"))
    if fixed is not None:
        message["content"] = str(fixed)
    elif tool is not None:
        fn = tool.get("function") or {}
        digest = hashlib.sha256(orjson.dumps(messages)).hexdigest()[:24]
        message["tool_calls"] = [
            {
                "id": f"call_{digest}",
                "type": "function",
                "function": {
                    "name": fn.get("name"),
                    "arguments": orjson.dumps(_arguments_for(fn.get("parameters"))).decode(),
                },
            }
        ]
        finish = "tool_calls"
    elif messages and messages[-1].get("role") == "tool":
        message["content"] = (
            "Mock answer from the tool result: " + _text_of(messages[-1].get("content"))[:500]
        )
    else:
        last_user = next(
            (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        message["content"] = "This is a mock response to: " + last_user[:500]
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    if (
        message["content"]
        and isinstance(max_tokens, int)
        and _estimate_tokens(message["content"]) > max_tokens
    ):
        message["content"] = message["content"][: max_tokens * 4]
        finish = "length"
    completion_text = message["content"] or orjson.dumps(message.get("tool_calls")).decode()
    prompt_tokens, completion_tokens = _estimate_tokens(prompt_text), _estimate_tokens(completion_text)
    n = int(request.get("n") or 1)
    return {
        "id": "chatcmpl-mock" + hashlib.sha256(orjson.dumps(messages)).hexdigest()[:20],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or "mock",
        "system_fingerprint": "fp_mock",
        "choices": [
            {"index": i, "message": message, "finish_reason": finish, "logprobs": None} for i in range(n)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens * n,
            "total_tokens": prompt_tokens + completion_tokens * n,
        },
    }


def _split(text: str, pieces: int | None) -> list[str]:
    if not text:
        return []
    if pieces:
        size = max(1, -(-len(text) // int(pieces)))
        return [text[i : i + size] for i in range(0, len(text), size)]
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def stream_chunks(request: dict[str, Any], reply: dict[str, Any], settings: dict[str, Any]) -> list[bytes]:
    base = {k: reply[k] for k in ("id", "object", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            **base,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    out: list[bytes] = []
    for choice in reply["choices"]:
        i, message = choice["index"], choice["message"]
        out.append(chunk(i, {"role": "assistant", "content": ""}))
        for piece in _split(message.get("content") or "", settings.get("mock_stream_chunks")):
            out.append(chunk(i, {"content": piece}))
        for t, call in enumerate(message.get("tool_calls") or []):
            head = {
                "index": t,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            out.append(chunk(i, {"tool_calls": [head]}))
            out.append(
                chunk(
                    i,
                    {"tool_calls": [{"index": t, "function": {"arguments": call["function"]["arguments"]}}]},
                )
            )
        out.append(chunk(i, {}, choice["finish_reason"]))
    if include_usage:
        out.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": reply["usage"]}) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def embeddings(request: dict[str, Any]) -> dict[str, Any]:
    inputs = request.get("input")
    items = [inputs] if isinstance(inputs, str) else list(inputs or [])
    if items and all(isinstance(i, int) for i in items):
        items = [items]  # one input given as token ids (OpenAI's form), not one input per id
    dims = int(request.get("dimensions") or 16)
    data = []
    for index, item in enumerate(items):
        digest = hashlib.sha256(orjson.dumps(item)).digest()
        vector = [((digest[(j * 7) % 32] + j) % 256) / 255.0 - 0.5 for j in range(dims)]
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(_estimate_tokens(i if isinstance(i, str) else " " * len(i)) for i in items)
    return {
        "object": "list",
        "data": data,
        "model": request.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
