"""Mistral AI's own API: OpenAI's shape, Mistral's strict rules and error bodies."""

from __future__ import annotations

from polyroute.providers.mistral.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.mistral.adapter:MistralAdapter")

__all__ = ["adapters", "specs"]
