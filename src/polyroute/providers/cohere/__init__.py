"""Cohere's v2 API (api.cohere.com): chat with tools and streaming, embeddings, rerank."""

from __future__ import annotations

from polyroute.providers.cohere.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.cohere.adapter:CohereAdapter")

__all__ = ["adapters", "specs"]
