"""Anthropic Messages API: `anthropic/<model>` deployments (see `adapter.AnthropicAdapter`)."""

from __future__ import annotations

from polyroute.providers.anthropic.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.anthropic.adapter:AnthropicAdapter")

__all__ = ["adapters", "specs"]
