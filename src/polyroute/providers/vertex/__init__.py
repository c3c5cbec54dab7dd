"""Google Vertex AI: Gemini (generateContent), Anthropic (rawPredict) and text embeddings."""

from __future__ import annotations

from polyroute.providers.package import single_provider
from polyroute.providers.vertex.spec import SPEC

specs, adapters = single_provider(SPEC, "polyroute.providers.vertex.adapter:VertexAdapter")

__all__ = ["adapters", "specs"]
