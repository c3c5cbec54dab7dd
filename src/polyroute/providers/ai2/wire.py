"""AI2's InferD endpoint, as FastChat's arena calls it: request body, answer lines, errors.

Request: `POST {api_base}` (default `https://inferd.allen.ai/api/v1/infer`) with a bearer key and
`{"model_id": ..., "input": {"messages": [{"role", "content"}], "opts": {"max_tokens",
"temperature", "top_p", "logprobs"}}}` (the input schema of AI2's Tulu models; other InferD models
take other inputs: `input` given in the request replaces the translated one). The answer always
streams, as JSON lines `{"result": {"output": {"text": [<pieces>], ...}}}`, each line adding
its pieces of text; the stream's clean close is its end. A line without `result.output` is a
failure. InferD serves the models with vLLM, which wants `top_p` 1 for greedy decoding
(temperature 0): the translation sends that rather than letting the request fail.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError, UnsupportedParamsError, UpstreamError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS

PROVIDER = "ai2"
SUPPORTED_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stream",
        "stream_options",
        "user",
    }
)


def infer_body(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("n") not in (None, 1):
        raise UnsupportedParamsError("ai2 returns one answer per request; n must be 1", param="n")
    opts: dict[str, Any] = {"logprobs": 1}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        opts["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            opts[key] = body[key]
    if opts.get("temperature") == 0:
        opts["top_p"] = 1.0  # vLLM's rule for greedy decoding
    out: dict[str, Any] = {
        "model_id": model_id,
        "input": {"messages": _messages(body.get("messages")), "opts": opts},
    }
    for key, value in body.items():
        if key not in CHAT_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value  # `input` replaces the translated one for models of another schema
    return out


def _messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list", param="messages")
    out = []
    for i, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):
            if any(part.get("type") != "text" for part in content):
                raise InvalidRequestError("ai2 takes text only", param=f"messages[{i}].content")
            content = "".join(str(part.get("text") or "") for part in content)
        if message.get("role") not in ("system", "user", "assistant"):
            raise InvalidRequestError(
                f"ai2 has no role {message.get('role')!r} (no tools)", param=f"messages[{i}].role"
            )
        out.append({"role": message["role"], "content": content or ""})
    return out


def text_of_line(line: Any) -> str:
    """The text one answer line adds; UpstreamError for a line that is not a result."""
    result = line.get("result") if isinstance(line, dict) else None
    output = result.get("output") if isinstance(result, dict) else None
    if not isinstance(output, dict):
        message = _error_message(line)
        raise UpstreamError(
            f"ai2: {message}" if message else "ai2 sent a line without a result", provider=PROVIDER
        )
    text = output.get("text")
    if isinstance(text, list):
        return "".join(str(piece) for piece in text)
    return str(text or "")


def _error_message(line: Any) -> str | None:
    error = line.get("error") if isinstance(line, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "") or None
    return str(error) if error else None
