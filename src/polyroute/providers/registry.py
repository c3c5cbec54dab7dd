"""Maps provider prefixes (`openai/`, `anthropic/`, ...) to adapters. No if/elif on names.

A provider registers through its package's `specs()` and `adapters()` (listed in
`providers/builtin.py`); each spec brings its name and aliases. The lookups below answer the
questions config loading, FastChat's endpoint files, tracing and the controller ask about
providers, from the specs alone. An adapter's code (request, response, stream and error
translation) is imported by the first `get_adapter` for it: a serving process holds only the
adapters its deployments use (issue 20: idle RSS, bench/results/memory.md).
"""

from __future__ import annotations

import threading
from importlib import import_module

from polyroute.providers.base import ProviderAdapter
from polyroute.providers.spec import ProviderSpec

_SPECS: dict[str, ProviderSpec] = {}  # in registration order
_ALIASES: dict[str, str] = {}
_ADAPTERS: dict[str, ProviderAdapter] = {}
#: providers whose adapter is not built yet -> the package whose `adapters()` builds it
_UNBUILT: dict[str, str] = {}
_building = threading.Lock()  # one adapter per provider, whichever thread asks first


def register(adapter: ProviderAdapter, *aliases: str) -> ProviderAdapter:
    """Registers `adapter` under its spec's name and aliases (plus any `aliases` given)."""
    _load_builtin()
    _add_spec(adapter.spec, aliases)
    _ADAPTERS[adapter.spec.name] = adapter
    return adapter


def register_spec(spec: ProviderSpec, package: str) -> None:
    """Registers a provider by its spec; `package`'s `adapters()` builds its adapter when first
    asked for."""
    _add_spec(spec, ())
    _UNBUILT[spec.name] = package


def _add_spec(spec: ProviderSpec, aliases: tuple[str, ...]) -> None:
    name = spec.name
    taken = [n for n in (name, *spec.aliases, *aliases) if n in _SPECS or n in _ALIASES]
    if taken:
        raise ValueError(f"provider names registered twice: {taken}")
    _SPECS[name] = spec
    for alias in (*spec.aliases, *aliases):
        _ALIASES[alias] = name


def get_spec(provider: str) -> ProviderSpec | None:
    """The spec of a provider name or alias, without importing its adapter."""
    _load_builtin()
    return _SPECS.get(_ALIASES.get(provider, provider))


def get_adapter(provider: str) -> ProviderAdapter | None:
    _load_builtin()
    name = _ALIASES.get(provider, provider)
    adapter = _ADAPTERS.get(name)
    if adapter is None and name in _UNBUILT:
        adapter = _build(name)
    return adapter


def _build(name: str) -> ProviderAdapter:
    with _building:
        package = _UNBUILT.get(name)
        if package is not None:
            for adapter in import_module(package).adapters():
                spec = adapter.spec
                if _SPECS.get(spec.name) is not spec:
                    raise RuntimeError(f"{package}: adapters() and specs() disagree on {spec.name!r}")
                if _UNBUILT.get(spec.name) == package:
                    _ADAPTERS[spec.name] = adapter
                    del _UNBUILT[spec.name]
        return _ADAPTERS[name]


def specs() -> list[ProviderSpec]:
    """Every registered provider's spec, in registration order (each once)."""
    _load_builtin()
    return list(_SPECS.values())


def known_providers() -> list[str]:
    """Every name a model may be prefixed with (`provider/`): names and aliases, sorted."""
    _load_builtin()
    return sorted({*_SPECS, *_ALIASES})


def fastchat_api_types() -> dict[str, str]:
    """FastChat `api_type` -> provider name, from the specs that declare them."""
    return {api_type: spec.name for spec in specs() for api_type in spec.fastchat_api_types}


def worker_adapter(protocol: str) -> ProviderAdapter | None:
    """The adapter for model workers speaking `protocol` (the controller's `protocol` field)."""
    return next((get_adapter(s.name) for s in specs() if s.worker_protocol == protocol), None)


def provider_for_bare_model(model: str) -> str | None:
    """The provider a model name without `provider/` means (LiteLLM's inference), or None."""
    lowered = model.lower()
    matches = (s.name for s in specs() if s.bare_model_prefixes and lowered.startswith(s.bare_model_prefixes))
    return next(matches, None)


def setting_prefixes() -> tuple[str, ...]:
    """`litellm_params` key prefixes that configure a provider rather than a request."""
    return tuple(dict.fromkeys(p for spec in specs() for p in spec.setting_prefixes))


_loaded = False


def _load_builtin() -> None:
    # Importing the provider packages registers their specs; one import list instead of name
    # switches. The packages import their adapters' code only in `adapters()`.
    global _loaded
    if _loaded:
        return
    _loaded = True
    from polyroute.providers.builtin import register_builtin

    register_builtin()
