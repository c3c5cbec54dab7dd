"""FastChat's model-worker protocol (fschat's model_worker, vllm_worker, ...)."""

from __future__ import annotations

from polyroute.providers.fastchat_worker.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.fastchat_worker.adapter:FastChatWorkerAdapter")

__all__ = ["adapters", "specs"]
