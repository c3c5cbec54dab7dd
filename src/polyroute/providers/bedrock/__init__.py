"""AWS Bedrock runtime: Converse and ConverseStream (SigV4, AWS event-stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.bedrock.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.bedrock.adapter import BedrockAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[BedrockAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.bedrock.adapter import BedrockAdapter

    return [BedrockAdapter()]
