"""Which request keys reach a provider: gateway keys removed, unsupported OpenAI params dropped
(with drop_params) or refused with a 400 that names them, and max_tokens kept within the model's
declared maximum output (clamped, or refused with general_settings.max_tokens_over_limit: reject)."""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError, UnsupportedParamsError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS
from polyroute.router.deployment import Deployment
from polyroute.spend.cost import OUTPUT_LIMIT_PARAMS, declared_max_output

# Params whose null value means "not set": dropping a null is never an error.
_NULL_OK = True


def provider_body(
    body: dict[str, Any], deployment: Deployment, global_drop: bool, over_limit: str = "clamp"
) -> dict[str, Any]:
    """A copy of the chat body fit for `deployment`'s provider."""
    adapter = deployment.adapter
    supported = adapter.chat_params(deployment.call)
    drop = body.get("drop_params")
    if drop is None:
        drop = deployment.drop_params if deployment.drop_params is not None else global_drop
    allowed = set(body.get("allowed_openai_params") or ())
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in GATEWAY_KEYS:
            continue
        if key in CHAT_PARAMS and key not in supported and key not in allowed:
            if drop or (value is None and _NULL_OK):
                continue
            raise UnsupportedParamsError(
                f"{adapter.name} does not support the parameter '{key}'. Remove it, or set drop_params "
                f"to drop unsupported parameters",
                param=key,
            )
        out[key] = value
    for key in body.get("additional_drop_params") or ():
        out.pop(key, None)
    return bounded_output(out, deployment, over_limit)


def bounded_output(payload: dict[str, Any], deployment: Deployment, over_limit: str) -> dict[str, Any]:
    """`payload` with max_tokens / max_completion_tokens no larger than the model's declared
    maximum output (`over_limit`: "clamp" lowers them, "reject" refuses with a 400 naming one).
    A provider would refuse the excess itself, or spend it; a budget reservation counts the same
    bound (spend/cost.py)."""
    limit = declared_max_output(deployment)
    if limit is None:
        return payload
    over = [
        name
        for name in OUTPUT_LIMIT_PARAMS
        if type(payload.get(name)) is int and payload[name] > limit  # bool is not a count here
    ]
    if not over:
        return payload
    if over_limit == "reject":
        raise InvalidRequestError(
            f"Invalid value for '{over[0]}': {payload[over[0]]} is above the maximum output of model "
            f"'{deployment.model_name}' ({limit} tokens)",
            param=over[0],
            code="invalid_value",
        )
    return {**payload, **dict.fromkeys(over, limit)}
