"""POST /v1/chat/completions."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.protocol.validate import validate_chat
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.server.client_scope import client_scope
from polyroute.server.http import Request
from polyroute.server.params import provider_body
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


async def chat_completions(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_chat(body)
    options = router_options(body, request.request_id)
    stream = bool(body.get("stream"))
    scope = client_scope(request, state, body)
    check_mock_response(body, state, scope.router if scope is not None else state.router)

    async def attempt(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        if scope is not None:
            deployment = scope.prepare(deployment)
        deployment = with_mock_response(deployment, body, state)
        adapter, call = deployment.adapter, deployment.call
        config = state.config
        payload = provider_body(body, deployment, config.drop_params, config.max_tokens_over_limit)
        if stream and adapter.passthrough_stream:
            payload = with_stream_usage(payload)  # bill from the provider's own figures
        wire = adapter.chat_request(call, payload, stream)
        headers = served_headers(deployment, info)
        limit = attempt_limit(state, deployment, info)
        if stream:
            translator = adapter.chat_stream(call, payload)
            relay = StreamRelay(request, state, deployment, translator, headers, include_usage(body))
            return await relay.run(
                wire, first_byte_limit(state, deployment, body, limit), idle_limit(state, limit)
            )
        data, raw, upstream = await call_json(state, deployment, wire, limit)
        headers |= provider_limit_headers(upstream, request.rate_headers)
        if adapter.passthrough_stream:
            # Already OpenAI's format: relay the upstream's bytes, parsed once only to check them.
            return await relay_openai_answer(request, deployment, headers, data, raw, "choices")
        out = adapter.chat_response(call, data)
        await request.respond(
            200, orjson.dumps(out), cost_headers(request, deployment, out.get("usage"), headers, out)
        )
        return AttemptOutcome(usage=out.get("usage"))

    router = scope.router if scope is not None else state.router
    await router.execute(body["model"], options, request.account.watching(attempt))
