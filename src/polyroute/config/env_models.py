"""Models available with no config file: one wildcard route per provider whose key is set
(or, for a cloud provider without keys, whose `route_env` variable is: Vertex's GCP_PROJECT_ID).

`anthropic/<any model>` is routable as soon as ANTHROPIC_API_KEY is set, and so on for every
provider in the registry: each provider's spec names its key, base-URL and API-version
variables (FastChat's names first, then LiteLLM's). The mock provider is always there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute.providers.base import ProviderCall
from polyroute.providers.registry import get_adapter, specs
from polyroute.providers.spec import ProviderSpec


def env_model_entries(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """`provider/*` entries for each keyed provider, plus `mock/*` and a `mock-gpt` model."""
    return _env_models(env)[0]


def env_model_warnings(env: Mapping[str, str]) -> list[str]:
    """One line per provider whose key is set but that has no base URL to call (Azure without
    its endpoint, ...): reported at start-up, where a 404 for `azure/...` would give no hint."""
    return _env_models(env)[1]


def retired_key_notices(env: Mapping[str, str]) -> list[str]:
    """One line per variable of a retired service set while its successor has no key
    (BARD_API_KEY without a Gemini key): said at start-up whatever the config."""
    return [line for spec in specs() for line in spec.retired_notices(env)]


def _env_models(env: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    warnings: list[str] = []
    entries: list[dict[str, Any]] = [
        {"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}},
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
    ]
    for spec in sorted(specs(), key=lambda s: s.name):
        found = spec.key_from(env)
        if found is None and spec.route_env:
            entry, warning = _keyless_route(spec, env)
            entries += [entry] if entry else []
            warnings += [warning] if warning else []
            continue
        if found is None or spec.name == "mock":
            continue
        variable, key = found
        params: dict[str, Any] = {"model": f"{spec.name}/*", "api_key": key}
        base = spec.base_from(env)
        if not base and spec.default_api_base is None:
            missing = "there is no default base URL"
            if spec.base_env:
                missing = " or ".join(spec.base_env) + " is not set"
            warnings.append(f"{variable} is set but {missing}: {spec.name}/<model> is not routable")
            continue
        if base:
            params["api_base"] = base
        version = spec.version_from(env)
        if version:
            params["api_version"] = version
        params.update(spec.settings_from(env))
        entries.append({"model_name": f"{spec.name}/*", "litellm_params": params})
    return entries, warnings


def _keyless_route(spec: ProviderSpec, env: Mapping[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """`provider/*` for a provider without a key (Vertex, Bedrock) when one of its `route_env`
    variables is set and its adapter accepts the deployment (the extra installed, a region or
    project known); otherwise the one-line reason why not."""
    variable = spec.route_from(env)
    if variable is None:
        return None, None
    settings = spec.settings_from(env)
    adapter = get_adapter(spec.name)
    try:
        if adapter is not None:
            adapter.check_call(ProviderCall(spec.name, "*", extras=dict(settings)))
    except ValueError as exc:
        return None, f"{variable} is set but {exc}: {spec.name}/<model> is not routable"
    return {"model_name": f"{spec.name}/*", "litellm_params": {"model": f"{spec.name}/*", **settings}}, None
