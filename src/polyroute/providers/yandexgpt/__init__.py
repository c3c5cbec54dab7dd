"""YandexGPT (Yandex Cloud Foundation Models, text generation v1 completion)."""

from __future__ import annotations

from polyroute.providers.package import single_provider
from polyroute.providers.yandexgpt.spec import SPEC

specs, adapters = single_provider(SPEC, "polyroute.providers.yandexgpt.adapter:YandexGPTAdapter")

__all__ = ["adapters", "specs"]
