"""YandexGPT (Yandex Cloud Foundation Models, text generation v1 completion)."""

from polyroute.providers.yandexgpt.adapter import YandexGPTAdapter

__all__ = ["YandexGPTAdapter", "adapters"]


def adapters() -> list[YandexGPTAdapter]:
    return [YandexGPTAdapter()]
