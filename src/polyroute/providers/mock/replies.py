"""What the mock answers, in OpenAI's shapes: chat completions (plain and as stream chunks) and
embeddings. Pure functions of the request and the deployment's settings; the transport
(adapter.py) checks the bounds first.

Text is cut into mock tokens of at most four non-space characters plus up to four following
spaces: usage, `max_tokens`, logprobs and stream chunks all count the same tokens, so a stream's
logprobs cover exactly the text of its chunk and `completion_tokens` equals the logprob entries.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any

import orjson

from polyroute.providers.mock.json_values import value_for_schema

TOKEN = re.compile(r"\S{1,4}\s{0,4}|\s{1,4}")
MAX_TOKEN_CHARS = 8
MAX_STREAM_CHUNKS = 1024  # content chunks per choice: longer answers get bigger chunks
ECHO_CHARS = 500
# Alternatives offered in top_logprobs after the chosen token (deterministic, like the rest).
ALTERNATIVES = (
    " the",
    " a",
    ",",
    ".",
    " and",
    " of",
    " to",
    " in",
    " is",
    " it",
    " mock",
    " that",
    " for",
    " on",
    " with",
    " as",
    " was",
    " at",
    " by",
    " be",
)


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def tokenize(text: str, limit: int) -> list[str]:
    """The first `limit` mock tokens of `text` (only the part that can hold them is scanned)."""
    return TOKEN.findall(text[: limit * MAX_TOKEN_CHARS])[:limit]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


# -- logprobs ----------------------------------------------------------------------------------------


def _logprob(token: str, position: int) -> float:
    digest = hashlib.sha256(f"{position}:{token}".encode()).digest()
    return -round(0.001 + digest[0] / 255 * 2.5, 4)


def token_logprobs(tokens: list[str], start: int, top: int) -> list[dict[str, Any]]:
    """OpenAI's chat `logprobs.content` entries for `tokens` (positions from `start`)."""
    out = []
    for offset, token in enumerate(tokens):
        chosen = _logprob(token, start + offset)
        alternatives = [a for a in ALTERNATIVES if a != token][: max(0, top - 1)]
        tops = [{"token": token, "logprob": chosen, "bytes": list(token.encode())}] if top else []
        tops += [
            {"token": a, "logprob": round(chosen - 1.0 - i * 0.5, 4), "bytes": list(a.encode())}
            for i, a in enumerate(alternatives)
        ]
        out.append({"token": token, "logprob": chosen, "bytes": list(token.encode()), "top_logprobs": tops})
    return out


def wants_logprobs(request: dict[str, Any]) -> tuple[bool, int]:
    top = request.get("top_logprobs")
    return bool(request.get("logprobs")), top if isinstance(top, int) and not isinstance(top, bool) else 0


# -- chat --------------------------------------------------------------------------------------------


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


def _last_user(messages: list[dict[str, Any]]) -> str:
    return next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")


def _structured(request: dict[str, Any], echo: str) -> str | None:
    """The reply a `response_format` asks for: JSON text, or None for plain text."""
    response_format = request.get("response_format")
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return orjson.dumps(value_for_schema(spec.get("schema") if isinstance(spec, dict) else None)).decode()
    if response_format.get("type") == "json_object":
        return orjson.dumps({"response": echo}).decode()
    return None


def _message(request: dict[str, Any], fixed: Any) -> tuple[dict[str, Any], str]:
    messages = request.get("messages") or []
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    tool = _pick_tool(request)
    echo = "This is a mock response to: " + _last_user(messages)[:ECHO_CHARS]
    if fixed is not None:
        message["content"] = str(fixed)
    elif tool is not None:
        fn = tool.get("function") or {}
        message["tool_calls"] = [
            {
                "id": new_id("call_"),
                "type": "function",
                "function": {
                    "name": fn.get("name"),
                    "arguments": orjson.dumps(value_for_schema(fn.get("parameters")) or {}).decode(),
                },
            }
        ]
        return message, "tool_calls"
    elif messages and messages[-1].get("role") == "tool":
        message["content"] = "Mock answer from the tool result: " + text_of(messages[-1].get("content"))[:500]
    else:
        message["content"] = _structured(request, echo) or echo
    return message, "stop"


def chat_reply(request: dict[str, Any], settings: dict[str, Any], max_tokens: int, n: int) -> dict[str, Any]:
    """A chat.completion with `n` choices of at most `max_tokens` tokens each."""
    messages = request.get("messages") or []
    fixed = settings.get("mock_response") if "mock_response" in settings else None
    message, finish = _message(request, fixed)
    tokens: list[str] = []
    if message["content"] is not None:
        tokens = tokenize(message["content"], max_tokens + 1)
        if len(tokens) > max_tokens:
            tokens, finish = tokens[:max_tokens], "length"
        message["content"] = "".join(tokens)
        completion = len(tokens)
    else:
        completion = estimate_tokens(orjson.dumps(message.get("tool_calls")).decode())
    logprobs, top = wants_logprobs(request)
    choice_logprobs = {"content": token_logprobs(tokens, 0, top), "refusal": None} if logprobs else None
    prompt = estimate_tokens(" ".join(text_of(m.get("content")) for m in messages))
    return {
        "id": new_id("chatcmpl-mock"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or "mock",
        "system_fingerprint": "fp_mock",
        "choices": [
            {"index": i, "message": message, "finish_reason": finish, "logprobs": choice_logprobs}
            for i in range(n)
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion * n,
            "total_tokens": prompt + completion * n,
        },
    }


def _groups(tokens: list[str], pieces: Any) -> list[list[str]]:
    """Tokens grouped into stream chunks: `pieces` even groups, else one per word; never more
    than MAX_STREAM_CHUNKS."""
    if not tokens:
        return []
    if isinstance(pieces, int) and pieces > 0:
        count = min(pieces, len(tokens), MAX_STREAM_CHUNKS)
    else:
        words: list[list[str]] = [[]]
        for token in tokens:
            words[-1].append(token)
            if token[-1].isspace():
                words.append([])
        words = [w for w in words if w]
        if len(words) <= MAX_STREAM_CHUNKS:
            return words
        count = MAX_STREAM_CHUNKS
    size, extra = divmod(len(tokens), count)
    out, at = [], 0
    for i in range(count):
        step = size + (1 if i < extra else 0)
        out.append(tokens[at : at + step])
        at += step
    return out


def stream_chunks(request: dict[str, Any], reply: dict[str, Any], settings: dict[str, Any]) -> list[bytes]:
    base = {k: reply[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    logprobs, top = wants_logprobs(request)

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None, lp: Any = None) -> bytes:
        payload = {
            **base,
            "choices": [{"index": index, "delta": delta, "logprobs": lp, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    out: list[bytes] = []
    for choice in reply["choices"]:
        i, message = choice["index"], choice["message"]
        out.append(chunk(i, {"role": "assistant", "content": ""}))
        position = 0
        tokens = tokenize(message.get("content") or "", len(message.get("content") or ""))
        for group in _groups(tokens, settings.get("mock_stream_chunks")):
            lp = {"content": token_logprobs(group, position, top), "refusal": None} if logprobs else None
            out.append(chunk(i, {"content": "".join(group)}, lp=lp))
            position += len(group)
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


# -- embeddings --------------------------------------------------------------------------------------

DEFAULT_DIMENSIONS = 16


def embeddings(request: dict[str, Any], items: list[Any], dims: int) -> dict[str, Any]:
    """A deterministic vector per input (from its SHA-256), `dims` numbers in [-0.5, 0.5]."""
    data = []
    for index, item in enumerate(items):
        digest = hashlib.sha256(orjson.dumps(item)).digest()
        vector = [((digest[(j * 7) % 32] + j) % 256) / 255.0 - 0.5 for j in range(dims)]
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(estimate_tokens(i if isinstance(i, str) else " " * len(i)) for i in items)
    return {
        "object": "list",
        "data": data,
        "model": request.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
