"""NVIDIA NIM: OpenAI's API with NIM's documented per-model params and error shapes."""

from __future__ import annotations

from polyroute.providers.nvidia_nim.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.nvidia_nim.adapter:NvidiaNimAdapter")

__all__ = ["adapters", "specs"]
