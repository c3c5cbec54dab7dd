"""GET /model/info and /v1/model/info: LiteLLM's list of deployments with their `model_info`.

LiteLLM's shape: `{"data": [{"model_name", "litellm_params", "model_info"}]}`, one entry per
deployment (a group of three deployments is three entries), `?litellm_model_id=` for one.
`model_info` is the deployment's own, over the shipped price table's entry for its model.

Nothing secret leaves: `litellm_params` never carries a key (the operator's or a header's), an
`api_base` loses any user info, query and fragment, and everything else is picked by name, never
copied whole. A virtual key sees only the models it may call, and neither where they run
(`api_base`, a worker's address) nor the operator's own fields: FastChat workers' addresses are
internal (the controller routes keep them for the master key too).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from polyroute.router.deployment import Deployment
from polyroute.router.pricing import PRICE_FIELDS, price_table
from polyroute.server.http import Request
from polyroute.server.state import AppState

# What any caller allowed to use a model may read of its model_info (LiteLLM's field names).
PUBLIC_INFO = frozenset(
    {
        *PRICE_FIELDS,
        "id",
        "mode",
        "max_tokens",
        "max_input_tokens",
        "max_output_tokens",
        "base_model",
        "description",
        "supports_function_calling",
        "supports_parallel_function_calling",
        "supports_vision",
        "supports_response_schema",
        "supports_reasoning",
        "supports_prompt_caching",
    }
)
# litellm_params shown to the master key, besides `model` (which everyone sees).
ADMIN_PARAMS = ("api_version", "rpm", "tpm", "timeout", "stream_timeout", "max_retries", "order", "weight")


async def model_info(request: Request, state: AppState) -> None:
    principal = request.principal
    admin = principal is None or principal.is_admin
    wanted = _query_value(request, "litellm_model_id")
    data = [
        _entry(deployment, admin)
        for deployment in state.config.models.deployments
        if (wanted is None or deployment.id == wanted)
        and (principal is None or principal.allows_model(deployment.model_name))
    ]
    await request.respond_json(200, {"data": data})


def _entry(deployment: Deployment, admin: bool) -> dict[str, Any]:
    call = deployment.call
    params: dict[str, Any] = {"model": f"{deployment.provider}/{call.model}"}
    if admin:
        if call.api_base:
            params["api_base"] = masked_url(call.api_base)
        values = {
            "api_version": call.api_version,
            "rpm": deployment.rpm,
            "tpm": deployment.tpm,
            "timeout": deployment.timeout,
            "stream_timeout": deployment.stream_timeout,
            "max_retries": deployment.max_retries,
            "order": deployment.order,
            "weight": deployment.weight,
        }
        params.update({name: values[name] for name in ADMIN_PARAMS if values[name] is not None})
    table = price_table()
    known = table.get(f"{deployment.provider}/{call.model}") or table.get(call.model) or {}
    own = deployment.model_info
    info = {**known, **(own if admin else {k: v for k, v in own.items() if k in PUBLIC_INFO})}
    info.update(
        id=deployment.id,
        db_model=False,  # LiteLLM's flag for models added through its API; polyroute's come from config
        litellm_provider=deployment.provider,
        key=call.model,
    )
    return {"model_name": deployment.model_name, "litellm_params": params, "model_info": info}


def masked_url(url: str) -> str:
    """`url` without user info, query or fragment (where keys hide in URLs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # not a port number: the host alone
        netloc = host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _query_value(request: Request, name: str) -> str | None:
    raw = request.scope.get("query_string") or b""
    if not raw:
        return None
    values = parse_qs(raw.decode("latin-1"), max_num_fields=20).get(name)
    return values[0] if values else None
