"""NVIDIA NIM: OpenAI's API with NIM's documented per-model params and error shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.nvidia_nim.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.nvidia_nim.adapter import NvidiaNimAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[NvidiaNimAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.nvidia_nim.adapter import NvidiaNimAdapter

    return [NvidiaNimAdapter()]
