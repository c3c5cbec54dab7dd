"""AWS Bedrock runtime: Converse and ConverseStream (SigV4, AWS event-stream)."""

from __future__ import annotations

from polyroute.providers.bedrock.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.bedrock.adapter:BedrockAdapter")

__all__ = ["adapters", "specs"]
