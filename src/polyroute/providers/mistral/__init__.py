"""Mistral AI's own API: OpenAI's shape, Mistral's strict rules and error bodies."""

from polyroute.providers.mistral.adapter import MistralAdapter

__all__ = ["MistralAdapter", "adapters"]


def adapters() -> list[MistralAdapter]:
    return [MistralAdapter()]
