"""Google Gemini API (generativelanguage.googleapis.com): chat and embeddings."""

from __future__ import annotations

from polyroute.providers.gemini.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.gemini.adapter:GeminiAdapter")

__all__ = ["adapters", "specs"]
