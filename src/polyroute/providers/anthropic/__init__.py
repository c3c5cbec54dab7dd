"""Anthropic Messages API: `anthropic/<model>` deployments (see `adapter.AnthropicAdapter`)."""

from polyroute.providers.anthropic.adapter import ANTHROPIC_VERSION, AnthropicAdapter
from polyroute.providers.anthropic.stream import AnthropicStreamTranslator

__all__ = ["ANTHROPIC_VERSION", "AnthropicAdapter", "AnthropicStreamTranslator", "adapters"]


def adapters() -> list[AnthropicAdapter]:
    return [AnthropicAdapter()]
