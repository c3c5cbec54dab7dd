"""Google Gemini API (generativelanguage.googleapis.com): chat and embeddings."""

from polyroute.providers.gemini.adapter import GeminiAdapter

__all__ = ["GeminiAdapter", "adapters"]


def adapters() -> list[GeminiAdapter]:
    return [GeminiAdapter()]
