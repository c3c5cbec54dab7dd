"""The built-in providers: one line per provider package.

Each module listed defines `specs()`, the `ProviderSpec`s (providers/spec.py) of the providers
it serves, and `adapters()`, their adapter instances, each carrying its spec. Start-up reads
only the specs; `adapters()`, which imports the translation code, runs when a deployment first
needs one of them (providers/registry.py). Adding a provider is its package plus one line here.
The order is the README table's and the order in which bare model names are matched to
providers.
"""

from __future__ import annotations

from importlib import import_module

PROVIDER_PACKAGES = (
    "polyroute.providers.openai_family",
    "polyroute.providers.mistral",
    "polyroute.providers.nvidia_nim",
    "polyroute.providers.azure",
    "polyroute.providers.anthropic",
    "polyroute.providers.gemini",
    "polyroute.providers.bedrock",
    "polyroute.providers.vertex",
    "polyroute.providers.cohere",
    "polyroute.providers.yandexgpt",
    "polyroute.providers.ai2",
    "polyroute.providers.reka",
    "polyroute.providers.mock",
    "polyroute.providers.fastchat_worker",
)


def register_builtin() -> None:
    from polyroute.providers.registry import register_spec

    for path in PROVIDER_PACKAGES:
        for spec in import_module(path).specs():
            register_spec(spec, path)
