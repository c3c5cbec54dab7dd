"""POST /v1/embeddings."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.protocol.validate import validate_embeddings
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.server.client_scope import client_scope
from polyroute.server.http import Request
from polyroute.server.relay import call_json
from polyroute.server.routes.common import (
    attempt_limit,
    check_mock_response,
    cost_headers,
    relay_openai_answer,
    router_options,
    served_headers,
)
from polyroute.server.state import AppState


async def embeddings(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_embeddings(body)
    options = router_options(body, request.request_id)
    payload = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
    scope = client_scope(request, state, body)
    check_mock_response(body, state, scope.router if scope is not None else state.router)

    async def attempt(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        if scope is not None:
            deployment = scope.prepare(deployment)
        adapter, call = deployment.adapter, deployment.call
        wire = adapter.embeddings_request(call, payload)
        data, raw, upstream = await call_json(state, deployment, wire, attempt_limit(state, deployment, info))
        headers = served_headers(deployment, info) | provider_limit_headers(upstream, request.rate_headers)
        if adapter.passthrough_stream:
            return await relay_openai_answer(request, deployment, headers, data, raw, "data")
        out = adapter.embeddings_response(call, data, payload)
        await request.respond(
            200, orjson.dumps(out), cost_headers(request, deployment, out.get("usage"), headers)
        )
        return AttemptOutcome(usage=out.get("usage"))

    router = scope.router if scope is not None else state.router
    await router.execute(body["model"], options, request.account.watching(attempt))
