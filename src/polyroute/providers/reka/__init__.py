"""Reka's chat API (api.reka.ai): text, images, tools; streamed and not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.reka.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.reka.adapter import RekaAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[RekaAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.reka.adapter import RekaAdapter

    return [RekaAdapter()]
