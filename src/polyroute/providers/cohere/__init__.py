"""Cohere's v2 API (api.cohere.com): chat with tools and streaming, embeddings, rerank."""

from polyroute.providers.cohere.adapter import CohereAdapter

__all__ = ["CohereAdapter", "adapters"]


def adapters() -> list[CohereAdapter]:
    return [CohereAdapter()]
