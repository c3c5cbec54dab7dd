"""Legacy completions (POST /v1/completions) as an inbound protocol. Native where the provider
has it; otherwise emulated over chat: the prompt becomes one user message and chat answers
become `text_completion` objects (`logprobs: k` becomes chat's `logprobs` with `top_logprobs: k`,
and comes back in the legacy shape: tokens, token_logprobs, top_logprobs, text_offset)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from polyroute.errors import GatewayError, InvalidRequestError
from polyroute.inbound.chat import OpenAIChunkEncoder, include_usage, openai_error_event, with_stream_usage
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.validate import validate_completion

if TYPE_CHECKING:
    from polyroute.providers.base import WireRequest
    from polyroute.router.deployment import Deployment

MAX_LOGPROBS = 20  # chat's top_logprobs maximum; OpenAI's legacy endpoint allows 5
# Completion params that mean the same in chat; the rest cannot be emulated.
_CARRIED = (
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "stream",
    "stream_options",
    "logit_bias",
)


def chat_body_for(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["prompt"]
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise InvalidRequestError(
                "this model takes one text prompt per request (token arrays and batches need a native "
                "completions endpoint)",
                param="prompt",
            )
        prompt = prompt[0]
    for unsupported in ("suffix", "echo", "best_of"):
        if body.get(unsupported):
            raise InvalidRequestError(f"'{unsupported}' is not available for this model", param=unsupported)
    chat = {k: body[k] for k in _CARRIED if k in body}
    logprobs = body.get("logprobs")
    if logprobs is not None:
        if isinstance(logprobs, bool) or not isinstance(logprobs, int) or not 0 <= logprobs <= MAX_LOGPROBS:
            raise InvalidRequestError(
                f"Invalid value for 'logprobs': expected an integer from 0 to {MAX_LOGPROBS}",
                param="logprobs",
            )
        # Legacy `logprobs: k` is chat's `logprobs: true` with k alternatives per token.
        chat["logprobs"], chat["top_logprobs"] = True, logprobs
    chat.update({k: v for k, v in body.items() if k in GATEWAY_KEYS})
    chat["model"] = body["model"]
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def legacy_logprobs(chat_logprobs: Any, offset: int = 0) -> dict[str, Any] | None:
    """Chat's `logprobs.content` entries -> the legacy completion's logprobs object, with
    `text_offset` counted from `offset` characters into the completion's text."""
    entries = chat_logprobs.get("content") if isinstance(chat_logprobs, dict) else None
    if not isinstance(entries, list):
        return None
    tokens, values, tops, offsets = [], [], [], []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        token = str(entry.get("token", ""))
        tokens.append(token)
        values.append(entry.get("logprob"))
        tops.append(
            {
                str(t.get("token", "")): t.get("logprob")
                for t in entry.get("top_logprobs") or ()
                if isinstance(t, dict)
            }
        )
        offsets.append(offset)
        offset += len(token)
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


def to_text_completion(chat: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "cmpl-" + str(chat.get("id", "")).removeprefix("chatcmpl-"),
        "object": "text_completion",
        "created": chat.get("created", int(time.time())),
        "model": chat.get("model"),
        "choices": [
            {
                "text": (choice.get("message") or {}).get("content") or "",
                "index": choice.get("index", 0),
                "logprobs": legacy_logprobs(choice.get("logprobs")),
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in chat.get("choices") or []
        ],
        "usage": chat.get("usage"),
    }


class TextCompletionChunks:
    """Chat chunks -> legacy completion chunks, for one stream (it counts each choice's text so
    far, so every chunk's logprobs carry their offsets in the whole completion)."""

    def __init__(self) -> None:
        self.offsets: dict[int, int] = {}

    def __call__(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        choices = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if not delta.get("content") and choice.get("finish_reason") is None:
                continue  # role-only and tool deltas have no text to give
            index = choice.get("index", 0)
            text = delta.get("content") or ""
            offset = self.offsets.get(index, 0)
            self.offsets[index] = offset + len(text)
            choices.append(
                {
                    "text": text,
                    "index": index,
                    "logprobs": legacy_logprobs(choice.get("logprobs"), offset),
                    "finish_reason": choice.get("finish_reason"),
                }
            )
        if not choices and not chunk.get("usage"):
            return None
        out = {
            "id": "cmpl-" + str(chunk.get("id", "")).removeprefix("chatcmpl-"),
            "object": "text_completion",
            "created": chunk.get("created"),
            "model": chunk.get("model"),
            "choices": choices,
        }
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        return out


class CompletionsProtocol:
    """Legacy completions through the one pipeline: native where the adapter has the endpoint
    (its OpenAI-format answer relayed as it came), emulated over chat elsewhere."""

    name = "completions"
    call_type = "text_completion"
    native_providers: frozenset[str] = frozenset()
    native_is_openai_format = True  # its native answers are OpenAI's format (guardrails read them)

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        validate_completion(body)
        return body  # the pipeline's keys (model, stream, timeouts) mean the same here

    def serves_natively(self, deployment: Deployment) -> bool:
        return "completions" in deployment.adapter.supports

    def for_deployment(self, body: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
        return chat_body_for(body)

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return to_text_completion(answer)

    def stream_encoder(self, body: dict[str, Any], request_id: str, model: str = "") -> OpenAIChunkEncoder:
        chunks = TextCompletionChunks()
        return OpenAIChunkEncoder(include_usage(body), "chatcmpl-" + request_id, model, chunks)

    def native_usage(self) -> None:
        return None  # OpenAI's format: the relay reads it like chat's

    def native_request(
        self, deployment: Deployment, body: dict[str, Any], stream: bool, headers: Any, raw: Any = None
    ) -> WireRequest:
        if stream and deployment.adapter.passthrough_stream:
            body = with_stream_usage(body)
        return deployment.adapter.completions_request(deployment.call, body, stream)

    def error_body(self, error: GatewayError, request_id: str) -> bytes:
        return error.to_body(request_id)

    def stream_error(self, error: GatewayError, request_id: str) -> bytes:
        return openai_error_event(error, request_id)


COMPLETIONS = CompletionsProtocol()
