"""AI2's InferD endpoint (Tulu, OLMo), as FastChat's arena reaches it."""

from polyroute.providers.ai2.adapter import AI2Adapter

__all__ = ["AI2Adapter", "adapters"]


def adapters() -> list[AI2Adapter]:
    return [AI2Adapter()]
