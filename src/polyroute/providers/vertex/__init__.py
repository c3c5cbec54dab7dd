"""Google Vertex AI: Gemini (generateContent), Anthropic (rawPredict) and text embeddings."""

from polyroute.providers.vertex.adapter import VertexAdapter

__all__ = ["VertexAdapter", "adapters"]


def adapters() -> list[VertexAdapter]:
    return [VertexAdapter()]
