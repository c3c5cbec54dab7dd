"""POST /v1/embeddings."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.protocol.validate import validate_embeddings
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.server.http import Request
from polyroute.server.pipeline import ModelRequest, route
from polyroute.server.relay import call_json
from polyroute.server.routes.common import attempt_limit, cost_headers, relay_openai_answer, served_headers
from polyroute.server.state import AppState


async def embeddings(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_embeddings(body)
    payload = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}

    async def attempt(deployment: Deployment, info: AttemptInfo, call: ModelRequest) -> AttemptOutcome:
        adapter, provider_call = deployment.adapter, deployment.call
        wire = adapter.embeddings_request(provider_call, payload)
        data, raw, upstream = await call_json(state, deployment, wire, attempt_limit(state, deployment, info))
        headers = served_headers(deployment, info) | provider_limit_headers(upstream, request.rate_headers)
        if adapter.passthrough_stream:
            return await relay_openai_answer(request, deployment, headers, data, raw, "data")
        out = adapter.embeddings_response(provider_call, data, payload)
        await request.respond(
            200, orjson.dumps(out), cost_headers(request, deployment, out.get("usage"), headers)
        )
        return AttemptOutcome(usage=out.get("usage"))

    await route(request, state, body, attempt)
