"""Models available with no config file: one wildcard route per provider whose key is set.

`anthropic/<any model>` is routable as soon as ANTHROPIC_API_KEY is set, and so on for every
provider in the registry (FastChat's variable names). The mock provider is always there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute.providers.registry import get_adapter, known_providers

# Base-URL variables users already set for OpenAI SDKs and FastChat.
_BASE_VARS = {
    "openai": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    "azure": ("AZURE_OPENAI_ENDPOINT", "AZURE_API_BASE"),
    "hosted_vllm": ("HOSTED_VLLM_API_BASE",),  # LiteLLM's name
}
_VERSION_VARS = {"azure": ("OPENAI_API_VERSION", "AZURE_API_VERSION")}
# Alternative key variables (LiteLLM's names) accepted beside FastChat's.
_ALT_KEYS = {"azure": ("AZURE_API_KEY",), "gemini": ("GOOGLE_API_KEY",)}


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[n] for n in names if env.get(n)), None)


def env_model_entries(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """`provider/*` entries for each keyed provider, plus `mock/*` and a `mock-gpt` model."""
    return _env_models(env)[0]


def env_model_warnings(env: Mapping[str, str]) -> list[str]:
    """One line per provider whose key is set but that has no base URL to call (Azure without
    its endpoint, ...): reported at start-up, where a 404 for `azure/...` would give no hint."""
    return _env_models(env)[1]


def _env_models(env: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    warnings: list[str] = []
    entries: list[dict[str, Any]] = [
        {"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}},
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
    ]
    seen: set[str] = set()
    for name in known_providers():
        adapter = get_adapter(name)
        if adapter is None or adapter.name in seen or adapter.name == "mock":
            continue
        seen.add(adapter.name)
        key_var = adapter.env_key
        keys = (key_var, *_ALT_KEYS.get(adapter.name, ())) if key_var else ()
        key = _first(env, keys) if keys else None
        if not key:
            continue
        params: dict[str, Any] = {"model": f"{adapter.name}/*", "api_key": key}
        base_vars = _BASE_VARS.get(adapter.name, ())
        base = _first(env, base_vars)
        if not base and adapter.default_api_base is None:
            missing = " or ".join(base_vars) + " is not set" if base_vars else "there is no default base URL"
            warnings.append(
                f"{_first_set(env, keys)} is set but {missing}: {adapter.name}/<model> is not routable"
            )
            continue
        if base:
            params["api_base"] = base
        version = _first(env, _VERSION_VARS.get(adapter.name, ()))
        if version:
            params["api_version"] = version
        entries.append({"model_name": f"{adapter.name}/*", "litellm_params": params})
    return entries, warnings


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((n for n in names if env.get(n)), names[0])
