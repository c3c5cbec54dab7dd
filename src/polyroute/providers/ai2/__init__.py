"""AI2's InferD endpoint (Tulu, OLMo), as FastChat's arena reaches it."""

from __future__ import annotations

from polyroute.providers.ai2.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.ai2.adapter:AI2Adapter")

__all__ = ["adapters", "specs"]
