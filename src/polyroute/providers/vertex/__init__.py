"""Google Vertex AI: Gemini (generateContent), Anthropic (rawPredict) and text embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.spec import ProviderSpec
from polyroute.providers.vertex.spec import SPEC

if TYPE_CHECKING:
    from polyroute.providers.vertex.adapter import VertexAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[VertexAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.vertex.adapter import VertexAdapter

    return [VertexAdapter()]
