"""Maps provider prefixes (`openai/`, `anthropic/`, ...) to adapters. No if/elif on names.

A provider registers through its package's `adapters()` (listed in `providers/builtin.py`);
each adapter's spec brings its name and aliases. The lookups below answer the questions config
loading, FastChat's endpoint files, tracing and the controller ask about providers, from the
specs alone.
"""

from __future__ import annotations

from polyroute.providers.base import ProviderAdapter
from polyroute.providers.spec import ProviderSpec

_ADAPTERS: dict[str, ProviderAdapter] = {}
_ALIASES: dict[str, str] = {}


def register(adapter: ProviderAdapter, *aliases: str) -> ProviderAdapter:
    """Registers `adapter` under its spec's name and aliases (plus any `aliases` given)."""
    name = adapter.spec.name
    taken = [n for n in (name, *adapter.spec.aliases, *aliases) if n in _ADAPTERS or n in _ALIASES]
    if taken:
        raise ValueError(f"provider names registered twice: {taken}")
    _ADAPTERS[name] = adapter
    for alias in (*adapter.spec.aliases, *aliases):
        _ALIASES[alias] = name
    return adapter


def get_adapter(provider: str) -> ProviderAdapter | None:
    _load_builtin()
    name = _ALIASES.get(provider, provider)
    return _ADAPTERS.get(name)


def specs() -> list[ProviderSpec]:
    """Every registered provider's spec, in registration order (each once)."""
    _load_builtin()
    return [adapter.spec for adapter in _ADAPTERS.values()]


def known_providers() -> list[str]:
    """Every name a model may be prefixed with (`provider/`): names and aliases, sorted."""
    _load_builtin()
    return sorted({*_ADAPTERS, *_ALIASES})


def fastchat_api_types() -> dict[str, str]:
    """FastChat `api_type` -> provider name, from the specs that declare them."""
    return {api_type: spec.name for spec in specs() for api_type in spec.fastchat_api_types}


def worker_adapter(protocol: str) -> ProviderAdapter | None:
    """The adapter for model workers speaking `protocol` (the controller's `protocol` field)."""
    return next((a for a in _registered() if a.spec.worker_protocol == protocol), None)


def provider_for_bare_model(model: str) -> str | None:
    """The provider a model name without `provider/` means (LiteLLM's inference), or None."""
    lowered = model.lower()
    matches = (s.name for s in specs() if s.bare_model_prefixes and lowered.startswith(s.bare_model_prefixes))
    return next(matches, None)


def setting_prefixes() -> tuple[str, ...]:
    """`litellm_params` key prefixes that configure a provider rather than a request."""
    return tuple(dict.fromkeys(p for spec in specs() for p in spec.setting_prefixes))


def _registered() -> list[ProviderAdapter]:
    _load_builtin()
    return list(_ADAPTERS.values())


_loaded = False


def _load_builtin() -> None:
    # Importing the provider packages registers them; one import list instead of name switches.
    global _loaded
    if _loaded:
        return
    _loaded = True
    from polyroute.providers.builtin import register_builtin

    register_builtin()
