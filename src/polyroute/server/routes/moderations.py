"""POST /v1/moderations: OpenAI's moderation API, routed like any model (a deployment whose
model is a moderation model, e.g. `openai/omni-moderation-latest`), answered as it came."""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.server.client_scope import client_scope
from polyroute.server.http import Request
from polyroute.server.relay import call_json
from polyroute.server.routes.common import attempt_limit, relay_openai_answer, router_options, served_headers
from polyroute.server.state import AppState

DEFAULT_MODEL = "omni-moderation-latest"  # OpenAI's default when the request names none
MAX_INPUTS = 2048


def validate_moderation(body: dict[str, Any]) -> None:
    value = body.get("input")
    if isinstance(value, str) and value:
        return
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        raise InvalidRequestError(
            f"'input' must be a non-empty string or a list of 1 to {MAX_INPUTS} strings or content parts",
            param="input",
        )
    if not (all(isinstance(v, str) for v in value) or all(isinstance(v, dict) for v in value)):
        raise InvalidRequestError("'input' must hold only strings or only content parts", param="input")


async def moderations(request: Request, state: AppState, body: dict[str, Any]) -> None:
    if body.get("model") is None:
        body["model"] = DEFAULT_MODEL
        # admission saw no model: the key's model list applies to the default too
        request.principal.check_models(body, state.config.router.model_group_alias)
    validate_moderation(body)
    options = router_options(body, request.request_id)
    payload = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
    scope = client_scope(request, state, body)

    async def attempt(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        if scope is not None:
            deployment = scope.prepare(deployment)
        wire = deployment.adapter.moderations_request(deployment.call, payload)
        data, raw, upstream = await call_json(state, deployment, wire, attempt_limit(state, deployment, info))
        headers = served_headers(deployment, info) | provider_limit_headers(upstream, request.rate_headers)
        return await relay_openai_answer(request, deployment, headers, data, raw, "results")

    router = scope.router if scope is not None else state.router
    await router.execute(body["model"], options, attempt)
