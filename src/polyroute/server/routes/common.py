"""Pieces every OpenAI route shares: router options from the body, timeouts, served-by headers."""

from __future__ import annotations

import dataclasses
from typing import Any

from polyroute.errors import InvalidRequestError, PermissionDeniedError, UpstreamError
from polyroute.providers.openai_compat import stream_error
from polyroute.providers.registry import get_adapter
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome, RequestOptions, Router
from polyroute.router.tokens import estimate_prompt_tokens
from polyroute.server.http import Request
from polyroute.server.state import DEFAULT_TIMEOUT, AppState
from polyroute.spend.cost import estimate_answer_tokens, max_output_tokens, reservation_group


def _positive_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise InvalidRequestError(f"Invalid value for '{name}': expected seconds > 0", param=name)
    return float(value)


def _model_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidRequestError(f"Invalid value for '{name}': expected a list of model names", param=name)
    models = []
    for i, item in enumerate(value):
        # LiteLLM also takes {"model": ..., ...} objects; credentials in them are refused by
        # server/client_scope.py, never silently dropped.
        model = item.get("model") if isinstance(item, dict) else item
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(
                f"Invalid value for '{name}[{i}]': expected a model name", param=f"{name}[{i}]"
            )
        models.append(model)
    return models


def router_options(body: dict[str, Any], request_id: str = "-") -> RequestOptions:
    retries = body.get("num_retries")
    if retries is not None and (
        not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 20
    ):
        raise InvalidRequestError(
            "Invalid value for 'num_retries': expected an integer from 0 to 20", param="num_retries"
        )
    _positive_number(body, "stream_timeout")
    testing_fallbacks = body.get("mock_testing_fallbacks", False)
    if not isinstance(testing_fallbacks, bool):
        raise InvalidRequestError(
            "Invalid value for 'mock_testing_fallbacks': expected true or false",
            param="mock_testing_fallbacks",
        )
    return RequestOptions(
        mock_testing_fallbacks=testing_fallbacks,
        num_retries=retries,
        deadline_s=_positive_number(body, "timeout"),
        fallbacks=_model_list(body, "fallbacks"),
        context_window_fallbacks=_model_list(body, "context_window_fallbacks"),
        content_policy_fallbacks=_model_list(body, "content_policy_fallbacks"),
        prompt_tokens=estimate_prompt_tokens(body),
        request_id=request_id,
    )


def _mock_refused(param: str = "mock_response") -> PermissionDeniedError:
    return PermissionDeniedError(
        f"per-request {param} is off for models that are not mock models; the operator turns it on "
        "with general_settings.allow_client_mock_response (or POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE)",
        code="mock_response_not_allowed",
        param=param,
    )


def check_mock_response(body: dict[str, Any], state: AppState, router: Router) -> None:
    """Before routing: LiteLLM's per-request test params (`mock_response`, a text, and
    `mock_testing_fallbacks: true`) reach a model that is not a mock model (this group or its
    fallbacks) only when the operator allows them (a test aid that would otherwise let any key
    make a real model's deployment answer what it sends, or skip it)."""
    sent = "mock_response" if "mock_response" in body else None
    if body.get("mock_testing_fallbacks") is True:
        sent = sent or "mock_testing_fallbacks"
    if sent is None:
        return
    if "mock_response" in body and not isinstance(body["mock_response"], str):
        raise InvalidRequestError(
            "Invalid value for 'mock_response': expected a string", param="mock_response"
        )
    if state.config.mock.allow_client_mock_response:
        return
    if any(d.provider != "mock" for d in reservation_group(router, body.get("model"), body)):
        raise _mock_refused(sent)


def with_mock_response(deployment: Deployment, body: dict[str, Any], state: AppState) -> Deployment:
    """LiteLLM's per-request `mock_response`: answer from the mock provider, call no upstream.
    Standing in for a real model, the answer is bounded by that model's output maximum and
    billed at its prices."""
    if "mock_response" not in body:
        return deployment
    extras = {**deployment.call.extras, "mock_response": body["mock_response"]}
    if deployment.provider != "mock":
        if not state.config.mock.allow_client_mock_response:
            raise _mock_refused()  # a fallback the check before routing could not see
        extras["mock_stands_in_for"] = deployment.provider
        extras["mock_max_output_tokens"] = max_output_tokens({}, [deployment])
    mock = get_adapter("mock")
    assert mock is not None
    call = dataclasses.replace(deployment.call, provider="mock", extras=extras, api_key=None)
    return dataclasses.replace(deployment, adapter=mock, call=call)


def attempt_limit(state: AppState, deployment: Deployment, info: AttemptInfo) -> float:
    """Seconds this attempt may take: its deployment's timeout, within the request's deadline."""
    own = float(deployment.timeout or state.config.request_timeout or DEFAULT_TIMEOUT)
    return max(0.001, min(own, info.remaining()))


def first_byte_limit(state: AppState, deployment: Deployment, body: dict[str, Any], limit: float) -> float:
    """Seconds to a stream's first byte: the body's, else the deployment's, else the router's."""
    value = body.get("stream_timeout") or deployment.stream_timeout or state.config.router.stream_timeout
    return min(float(value), limit) if value else limit


def idle_limit(state: AppState, limit: float) -> float:
    return float(state.config.router.stream_idle_timeout or limit)


def served_headers(deployment: Deployment, info: AttemptInfo) -> dict[str, str]:
    return {
        "x-polyroute-deployment": deployment.id,
        "x-polyroute-provider": deployment.provider,
        "x-polyroute-model-group": info.model_group,
        "x-polyroute-attempts": str(info.number),
        "x-polyroute-fallback": "true" if info.fallback else "false",
    }


def cost_headers(
    request: Any,
    deployment: Deployment,
    usage: dict[str, Any] | None,
    headers: dict[str, str],
    answer: dict[str, Any] | None = None,
    extra_usd: float = 0.0,
) -> dict[str, str]:
    """The served-by headers plus the answer's cost (x-polyroute-response-cost, and LiteLLM's
    x-litellm-response-cost); records the cost on the request's account. `answer` (the OpenAI-
    format body) is what an estimate counts when the provider sent no usage; `extra_usd` is
    billed apart from tokens (rerank's search units)."""
    account = getattr(request, "account", None)
    if account is None:
        return headers
    return {**headers, **account.answered(deployment, usage, answer, extra_usd)}


async def relay_openai_answer(
    request: Request,
    deployment: Deployment,
    headers: dict[str, str],
    data: dict[str, Any],
    raw: bytes,
    required: str,
) -> AttemptOutcome:
    """Sends an OpenAI-format upstream answer as the upstream's own bytes (parsed once, only to
    check it and read its usage); an answer without `required` is an upstream failure."""
    if required not in data:
        raise stream_error(data) if "error" in data else UpstreamError(f"upstream answer has no {required}")
    usage = data.get("usage")
    await request.respond(200, raw, cost_headers(request, deployment, usage, headers, data))
    # A server that sends no usage: its answer's estimate still counts against tpm.
    return AttemptOutcome(usage=usage, produced_tokens=0 if usage else estimate_answer_tokens(data))
