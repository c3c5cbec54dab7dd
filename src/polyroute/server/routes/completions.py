"""POST /v1/completions (legacy). Native where the provider has it; otherwise emulated over chat:
the prompt becomes one user message and chat answers become `text_completion` objects
(`logprobs: k` becomes chat's `logprobs` with `top_logprobs: k`, and comes back in the legacy
shape: tokens, token_logprobs, top_logprobs, text_offset)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from polyroute.errors import InvalidRequestError
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.protocol.validate import validate_completion
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.server.client_scope import client_scope
from polyroute.server.http import Request
from polyroute.server.params import bounded_output, provider_body
from polyroute.server.relay import StreamRelay, call_json
from polyroute.server.routes.common import (
    attempt_limit,
    check_mock_response,
    cost_headers,
    first_byte_limit,
    idle_limit,
    include_usage,
    relay_openai_answer,
    router_options,
    served_headers,
    with_mock_response,
    with_stream_usage,
)
from polyroute.server.state import AppState

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


async def completions(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_completion(body)
    options = router_options(body, request.request_id)
    stream = bool(body.get("stream"))
    scope = client_scope(request, state, body)
    check_mock_response(body, state, scope.router if scope is not None else state.router)

    async def attempt(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        if scope is not None:
            deployment = scope.prepare(deployment)
        deployment = with_mock_response(deployment, body, state)
        adapter, call = deployment.adapter, deployment.call
        headers = served_headers(deployment, info)
        limit = attempt_limit(state, deployment, info)
        if "completions" in adapter.supports:
            payload = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
            payload = bounded_output(payload, deployment, state.config.max_tokens_over_limit)
            if stream and adapter.passthrough_stream:
                payload = with_stream_usage(payload)
            wire = adapter.completions_request(call, payload, stream)
            if stream:
                relay = StreamRelay(
                    request,
                    state,
                    deployment,
                    adapter.chat_stream(call, payload),
                    headers,
                    include_usage(body),
                )
                return await relay.run(
                    wire, first_byte_limit(state, deployment, body, limit), idle_limit(state, limit)
                )
            data, raw, upstream = await call_json(state, deployment, wire, limit)
            headers |= provider_limit_headers(upstream, request.rate_headers)
            return await relay_openai_answer(request, deployment, headers, data, raw, "choices")
        chat = chat_body_for(body)
        config = state.config
        payload = provider_body(chat, deployment, config.drop_params, config.max_tokens_over_limit)
        if stream and adapter.passthrough_stream:
            payload = with_stream_usage(payload)
        wire = adapter.chat_request(call, payload, stream)
        if stream:
            translator = adapter.chat_stream(call, payload)
            relay = StreamRelay(
                request, state, deployment, translator, headers, include_usage(body), TextCompletionChunks()
            )
            return await relay.run(
                wire, first_byte_limit(state, deployment, body, limit), idle_limit(state, limit)
            )
        data, _, upstream = await call_json(state, deployment, wire, limit)
        headers |= provider_limit_headers(upstream, request.rate_headers)
        out = to_text_completion(adapter.chat_response(call, data))
        await request.respond(
            200, orjson.dumps(out), cost_headers(request, deployment, out.get("usage"), headers, out)
        )
        return AttemptOutcome(usage=out.get("usage"))

    router = scope.router if scope is not None else state.router
    await router.execute(body["model"], options, request.account.watching(attempt))
