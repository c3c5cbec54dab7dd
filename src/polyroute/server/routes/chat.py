"""POST /v1/chat/completions."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.protocol.validate import validate_chat
from polyroute.providers.openai_compat import stream_error
from polyroute.server.http import Request
from polyroute.server.params import provider_body
from polyroute.server.relay import StreamRelay, call_json
from polyroute.server.routes.common import (
    include_usage,
    request_timeout,
    resolve_deployment,
    served_headers,
    stream_timeout,
    with_mock_response,
)
from polyroute.server.state import AppState


async def chat_completions(request: Request, state: AppState, body: dict[str, Any]) -> None:
    validate_chat(body)
    deployment = with_mock_response(resolve_deployment(state, body["model"]), body)
    adapter, call = deployment.adapter, deployment.call
    payload = provider_body(body, deployment, state.config.drop_params)
    stream = bool(body.get("stream"))
    timeout = request_timeout(state, deployment, body)
    wire = adapter.chat_request(call, payload, stream)
    headers = served_headers(deployment)
    if stream:
        relay = StreamRelay(
            request, state, deployment, adapter.chat_stream(call, payload), headers, include_usage(body)
        )
        await relay.run(wire, stream_timeout(deployment, body, timeout), timeout)
        return
    data, raw, _ = await call_json(state, deployment, wire, timeout)
    if adapter.passthrough_stream:
        # Already OpenAI's format: relay the upstream's bytes, parsed once only to check them.
        if "choices" not in data:
            raise stream_error(data) if "error" in data else UpstreamError("upstream answer has no choices")
        await request.respond(200, raw, headers)
        return
    await request.respond(200, orjson.dumps(adapter.chat_response(call, data)), headers)
