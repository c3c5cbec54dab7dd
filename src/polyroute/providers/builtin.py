"""The built-in providers: one line per provider package.

Each module listed defines `adapters()`, the adapter instances it provides, each carrying its
`ProviderSpec` (providers/spec.py). Adding a provider is its package plus one line here. The
order is the README table's and the order in which bare model names are matched to providers.
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
    from polyroute.providers.registry import register

    for path in PROVIDER_PACKAGES:
        for adapter in import_module(path).adapters():
            register(adapter)
