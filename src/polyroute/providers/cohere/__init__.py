"""Cohere's v2 API (api.cohere.com): chat with tools and streaming, embeddings, rerank."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.cohere.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.cohere.adapter import CohereAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[CohereAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.cohere.adapter import CohereAdapter

    return [CohereAdapter()]
