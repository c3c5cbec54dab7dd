"""OpenAI chat request -> Mistral's `/v1/chat/completions` body: OpenAI's shape with Mistral's rules.

Mistral validates strictly: an unknown field is a 422 ("Extra inputs are not permitted"), so
OpenAI names it lacks are renamed (`max_completion_tokens` -> `max_tokens`, `seed` ->
`random_seed`) or not sent (`user`, `stream_options`: Mistral puts usage on its last chunk
anyway), and messages keep only the keys Mistral knows (a `reasoning_content` another model
left in the history is dropped). Tool-call ids must be nine characters of [a-zA-Z0-9]: ids
from elsewhere (OpenAI's `call_...`, a fallback's, a client's) are rewritten to nine characters
derived from the original, the same in the assistant's call and the tool's answer, so a
conversation begun on another provider continues on Mistral. Mistral-only fields (`safe_prompt`,
`prompt_mode`, `prediction`, ...) pass through.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from polyroute.protocol.openai_params import GATEWAY_KEYS

SUPPORTED_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "prediction",
        "stream",
        "stream_options",
        "user",  # accepted, not sent: Mistral refuses the field
    }
)
#: OpenAI name -> Mistral name
RENAMED = {"max_completion_tokens": "max_tokens", "seed": "random_seed"}
NOT_SENT = frozenset({"user", "stream_options"})
MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name", "prefix"})
TOOL_CALL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mistral_tool_call_id(original: str) -> str:
    """Nine base-62 characters: the id itself when it already fits, else derived from its hash."""
    if TOOL_CALL_ID.match(original):
        return original
    number = int.from_bytes(hashlib.sha256(original.encode()).digest()[:8], "big")
    out = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def build_body(model: str, defaults: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    request = {**defaults, **body} if defaults else body
    out: dict[str, Any] = {}
    for key, value in request.items():
        if key in NOT_SENT or key in GATEWAY_KEYS:
            continue
        if key == "max_tokens" and "max_completion_tokens" in request:
            continue  # the newer name wins, as OpenAI documents
        out[RENAMED.get(key, key)] = value
    out["model"] = model
    if isinstance(out.get("messages"), list):
        out["messages"] = [_message(m) for m in out["messages"]]
    return out


def _message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    out = {k: v for k, v in message.items() if k in MESSAGE_KEYS}
    if out.get("tool_calls"):
        out["tool_calls"] = [
            {**call, "id": mistral_tool_call_id(str(call.get("id") or ""))}
            if isinstance(call, dict)
            else call
            for call in out["tool_calls"]
        ]
        if out.get("content") == "":
            out["content"] = None
    if out.get("role") == "tool" and out.get("tool_call_id") is not None:
        out["tool_call_id"] = mistral_tool_call_id(str(out["tool_call_id"]))
    return out


def embeddings_body(model: str, defaults: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """`dimensions` is Mistral's `output_dimension`; `user` is not a Mistral field."""
    request = {**defaults, **body} if defaults else body
    out = {k: v for k, v in request.items() if k != "user" and k not in GATEWAY_KEYS}
    if "dimensions" in out:
        out["output_dimension"] = out.pop("dimensions")
    out["model"] = model
    return out
