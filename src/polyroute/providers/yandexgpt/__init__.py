"""YandexGPT (Yandex Cloud Foundation Models, text generation v1 completion)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.spec import ProviderSpec
from polyroute.providers.yandexgpt.spec import SPEC

if TYPE_CHECKING:
    from polyroute.providers.yandexgpt.adapter import YandexGPTAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[YandexGPTAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.yandexgpt.adapter import YandexGPTAdapter

    return [YandexGPTAdapter()]
