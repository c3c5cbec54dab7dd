"""Maps provider prefixes (`openai/`, `anthropic/`, ...) to adapters. No if/elif on names."""

from __future__ import annotations

from polyroute.providers.base import ProviderAdapter

_ADAPTERS: dict[str, ProviderAdapter] = {}
_ALIASES: dict[str, str] = {}


def register(adapter: ProviderAdapter, *aliases: str) -> ProviderAdapter:
    _ADAPTERS[adapter.name] = adapter
    for alias in aliases:
        _ALIASES[alias] = adapter.name
    return adapter


def get_adapter(provider: str) -> ProviderAdapter | None:
    _load_builtin()
    name = _ALIASES.get(provider, provider)
    return _ADAPTERS.get(name)


def known_providers() -> list[str]:
    _load_builtin()
    return sorted({*_ADAPTERS, *_ALIASES})


_loaded = False


def _load_builtin() -> None:
    # Importing a provider module registers it; one import list instead of name switches.
    global _loaded
    if _loaded:
        return
    _loaded = True
    from polyroute.providers import builtin  # noqa: F401
