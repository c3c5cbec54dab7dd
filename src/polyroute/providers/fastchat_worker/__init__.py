"""FastChat's model-worker protocol (fschat's model_worker, vllm_worker, ...)."""

from polyroute.providers.fastchat_worker.adapter import FastChatWorkerAdapter

__all__ = ["FastChatWorkerAdapter", "adapters"]


def adapters() -> list[FastChatWorkerAdapter]:
    return [FastChatWorkerAdapter()]
