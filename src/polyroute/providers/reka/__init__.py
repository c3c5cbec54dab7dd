"""Reka's chat API (api.reka.ai): text, images, tools; streamed and not."""

from __future__ import annotations

from polyroute.providers.package import single_provider
from polyroute.providers.reka.spec import SPEC

specs, adapters = single_provider(SPEC, "polyroute.providers.reka.adapter:RekaAdapter")

__all__ = ["adapters", "specs"]
