"""Pieces every OpenAI route shares: model resolution, timeouts, served-by headers."""

from __future__ import annotations

import dataclasses
from typing import Any

from polyroute.errors import InvalidRequestError, ModelNotFoundError
from polyroute.providers.registry import get_adapter
from polyroute.router.deployment import Deployment
from polyroute.router.select import pick
from polyroute.server.state import DEFAULT_TIMEOUT, AppState


def resolve_deployment(state: AppState, model: str, operation: str = "chat") -> Deployment:
    group = state.config.models.resolve(model)
    if not group:
        raise ModelNotFoundError(
            f"The model '{model}' does not exist or is not served by this gateway", param="model"
        )
    usable = [d for d in group if operation in d.adapter.supports or operation == "completions"]
    if not usable:
        raise InvalidRequestError(
            f"The model '{model}' does not support {operation}", param="model", code="unsupported_model"
        )
    return pick(usable)


def with_mock_response(deployment: Deployment, body: dict[str, Any]) -> Deployment:
    """LiteLLM's per-request `mock_response`: answer from the mock provider, call no upstream."""
    if "mock_response" not in body:
        return deployment
    mock = get_adapter("mock")
    assert mock is not None
    extras = {**deployment.call.extras, "mock_response": body["mock_response"]}
    call = dataclasses.replace(deployment.call, provider="mock", extras=extras, api_key=None)
    return dataclasses.replace(deployment, adapter=mock, call=call)


def request_timeout(state: AppState, deployment: Deployment, body: dict[str, Any]) -> float:
    value = body.get("timeout")
    if value is not None:
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise InvalidRequestError("Invalid value for 'timeout': expected seconds > 0", param="timeout")
        return float(value)
    return float(deployment.timeout or state.config.request_timeout or DEFAULT_TIMEOUT)


def stream_timeout(deployment: Deployment, body: dict[str, Any], total: float) -> float:
    value = body.get("stream_timeout")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(deployment.stream_timeout or total)


def served_headers(deployment: Deployment) -> dict[str, str]:
    return {
        "x-polyroute-deployment": deployment.id,
        "x-polyroute-provider": deployment.provider,
        "x-polyroute-model": deployment.call.model,
    }


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))
