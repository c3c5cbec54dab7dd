"""Mistral AI's own API: OpenAI's shape, Mistral's strict rules and error bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.mistral.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.mistral.adapter import MistralAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[MistralAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.mistral.adapter import MistralAdapter

    return [MistralAdapter()]
