"""Anthropic Messages API: `anthropic/<model>` deployments (see `adapter.AnthropicAdapter`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.anthropic.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.anthropic.adapter import AnthropicAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[AnthropicAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.anthropic.adapter import AnthropicAdapter

    return [AnthropicAdapter()]
