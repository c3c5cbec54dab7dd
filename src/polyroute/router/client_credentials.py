"""Client-side credentials applied to a deployment: whether a request may use them there (the
403/400 that refuses them, naming the param) and the per-request copy of the deployment that
uses them. The operator's policy and the parsing of what the client sent are
auth/client_credentials.py's; its docstring states the rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from polyroute.auth.client_credentials import ClientParamPolicy, ClientParams, ClientValue
from polyroute.auth.cloud_settings import AMBIENT_CREDENTIALS, missing_own_credentials
from polyroute.auth.url_safety import ClientUrl
from polyroute.errors import InvalidRequestError, RefusedParamError
from polyroute.protocol.openai_params import CLIENT_SECRET_PARAMS
from polyroute.providers.base import ProviderCall
from polyroute.router.deployment import Deployment

_PROBE_SUFFIX = "-polyroute-host-probe"


def needs_client_key(deployment: Deployment) -> bool:
    """A deployment with no key of the operator's that takes the client's (the seed's
    `fireworks_ai/*` entry has none): requests to it must bring `api_key`."""
    policy: ClientParamPolicy | None = getattr(deployment, "client_policy", None)
    call = deployment.call
    return (
        policy is not None
        and policy.allows("api_key")
        and not deployment.adapter.key_optional
        and not holds_operator_credentials(call)
        and not (call.api_base and call.provider.startswith("openai"))  # keyless OpenAI-compatible
    )


def holds_operator_credentials(call: ProviderCall) -> bool:
    """Whether the deployment carries anything of the operator's that authenticates. A cloud
    provider always does: without keys of its own it signs with the process's ambient identity
    (botocore's chain, Google's application default credentials), the operator's account."""
    return bool(
        call.api_key
        or call.extra_headers
        or any(k in CLIENT_SECRET_PARAMS for k in call.extras)
        or call.provider in AMBIENT_CREDENTIALS
    )


def client_base(call: ProviderCall, params: ClientParams) -> ClientValue | None:
    """The client's choice of where this request goes: `api_base`, or for Bedrock its
    `aws_bedrock_runtime_endpoint` (the same thing under LiteLLM's Bedrock name)."""
    if params.base is not None:
        return params.base
    return params.get("aws_bedrock_runtime_endpoint") if call.provider == "bedrock" else None


def missing_client_credential(call: ProviderCall, params: ClientParams) -> str | None:
    """The param the client must add to use its own credentials with this deployment: `api_key`,
    or a cloud provider's own settings (AWS key pair, vertex_credentials); None when present."""
    if call.provider in AMBIENT_CREDENTIALS:
        return missing_own_credentials(call.provider, params.values)
    return None if params.api_key is not None else "api_key"


def _probe_url(url: ClientUrl) -> str:
    """The client's URL with its host lengthened: a regex that still matches does not pin the
    host (e.g. `https://good.*/v1` also matches `https://good.evil.example/v1`)."""
    return dataclasses.replace(url, host=url.host.replace(":", "-") + _PROBE_SUFFIX).text


def check_allowed(deployment: Deployment, params: ClientParams, model: str) -> None:
    """Raises the 403/400 that refuses `params` for this deployment; returns when all may be used."""
    policy: ClientParamPolicy | None = getattr(deployment, "client_policy", None)
    for key, value in params.values.items():
        patterns = policy.patterns.get(key) if policy is not None else None
        if patterns is None:
            raise RefusedParamError(
                f"'{value.sent_as}' may not be set by clients for model '{model}'. The operator can "
                "allow it with the model's litellm_params.configurable_clientside_auth_params",
                param=value.sent_as,
            )
        if patterns and not any(p.fullmatch(value.text) for p in patterns):
            raise RefusedParamError(
                f"'{value.sent_as}' is not one of the values the operator allows for model '{model}'",
                param=value.sent_as,
            )
    base = client_base(deployment.call, params)
    missing = missing_client_credential(deployment.call, params)
    if base is None or missing is None or not holds_operator_credentials(deployment.call):
        return
    assert policy is not None  # base passed the loop above
    if not policy.operator_key_with_client_base or base.key != "api_base":
        raise InvalidRequestError(
            f"A client-chosen '{base.sent_as}' is used only with the client's own credentials: send "
            f"'{missing}' too (the gateway's provider credentials are never sent to a client-chosen URL)",
            param=missing,
            code="missing_required_parameter",
        )
    assert isinstance(base.value, ClientUrl)
    probe = _probe_url(base.value)
    if any(p.fullmatch(probe) for p in policy.patterns["api_base"]):
        raise RefusedParamError(
            f"The operator's pattern for '{base.sent_as}' does not pin the host, so the gateway's "
            f"provider key is not sent to it; send your own api_key for model '{model}'",
            param=base.sent_as,
        )


def apply_client_params(deployment: Deployment, params: ClientParams) -> Deployment:
    """A per-request copy of `deployment` that uses the client's values (after check_allowed)."""
    call = deployment.call
    changes: dict[str, Any] = {}
    extras = dict(call.extras)
    base = client_base(call, params)
    key = params.api_key
    if base is not None:
        changes["api_base"] = base.text
        changes["client_url_param"] = base.sent_as
        policy: ClientParamPolicy | None = getattr(deployment, "client_policy", None)
        own = missing_client_credential(call, params) is None
        if own or policy is None or not policy.operator_key_with_client_base or base.key != "api_base":
            # Nothing of the operator's that authenticates goes to a URL the client chose.
            changes.update(api_key=None, organization=None, extra_headers={})
            extras = {k: v for k, v in extras.items() if k not in CLIENT_SECRET_PARAMS}
    if key is not None:
        changes.update(api_key=key, organization=None)  # the operator's org belongs to its key
    for name, value in params.values.items():
        if name in ("api_base", "api_key"):
            continue
        if name in ("api_version", "organization"):
            changes[name] = value.text
        else:
            extras[name] = value.text
    changes["extras"] = extras
    return dataclasses.replace(deployment, call=dataclasses.replace(call, **changes))
