"""AI2's InferD endpoint (Tulu, OLMo), as FastChat's arena reaches it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.ai2.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.ai2.adapter import AI2Adapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[AI2Adapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.ai2.adapter import AI2Adapter

    return [AI2Adapter()]
