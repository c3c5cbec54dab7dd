"""Which request keys reach a provider: gateway keys removed, unsupported OpenAI params dropped
(with drop_params) or refused with a 400 that names them."""

from __future__ import annotations

from typing import Any

from polyroute.errors import UnsupportedParamsError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS
from polyroute.router.deployment import Deployment

# Params whose null value means "not set": dropping a null is never an error.
_NULL_OK = True


def provider_body(body: dict[str, Any], deployment: Deployment, global_drop: bool) -> dict[str, Any]:
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
    return out
