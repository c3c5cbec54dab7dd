"""Reka's chat API (api.reka.ai): text, images, tools; streamed and not."""

from polyroute.providers.reka.adapter import RekaAdapter

__all__ = ["RekaAdapter", "adapters"]


def adapters() -> list[RekaAdapter]:
    return [RekaAdapter()]
