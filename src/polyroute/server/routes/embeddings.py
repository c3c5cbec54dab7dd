"""POST /v1/embeddings."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.validate import validate_embeddings
from polyroute.providers.openai_compat import stream_error
from polyroute.server.http import Request
from polyroute.server.relay import call_json
from polyroute.server.routes.common import request_timeout, resolve_deployment, served_headers
from polyroute.server.state import AppState


async def embeddings(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_embeddings(body)
    deployment = resolve_deployment(state, body["model"], "embeddings")
    adapter, call = deployment.adapter, deployment.call
    payload = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
    wire = adapter.embeddings_request(call, payload)
    data, raw, _ = await call_json(state, deployment, wire, request_timeout(state, deployment, body))
    headers = served_headers(deployment)
    if adapter.passthrough_stream:
        if "data" not in data:
            raise stream_error(data) if "error" in data else UpstreamError("upstream answer has no data")
        await request.respond(200, raw, headers)
        return
    await request.respond(200, orjson.dumps(adapter.embeddings_response(call, data, payload)), headers)
