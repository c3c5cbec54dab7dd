"""Google Gemini API (generativelanguage.googleapis.com): chat and embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.gemini.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.gemini.adapter import GeminiAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[GeminiAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.gemini.adapter import GeminiAdapter

    return [GeminiAdapter()]
