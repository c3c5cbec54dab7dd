"""FastChat's model-worker protocol (fschat's model_worker, vllm_worker, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyroute.providers.fastchat_worker.spec import SPEC
from polyroute.providers.spec import ProviderSpec

if TYPE_CHECKING:
    from polyroute.providers.fastchat_worker.adapter import FastChatWorkerAdapter

__all__ = ["adapters", "specs"]


def specs() -> list[ProviderSpec]:
    """The registry's entry point at start-up (providers/builtin.py): facts only, no adapter code."""
    return [SPEC]


def adapters() -> list[FastChatWorkerAdapter]:
    """Called by the registry when a deployment first uses this provider."""
    from polyroute.providers.fastchat_worker.adapter import FastChatWorkerAdapter

    return [FastChatWorkerAdapter()]
