"""NVIDIA NIM: OpenAI's API with NIM's documented per-model params and error shapes."""

from polyroute.providers.nvidia_nim.adapter import NvidiaNimAdapter

__all__ = ["NvidiaNimAdapter", "adapters"]


def adapters() -> list[NvidiaNimAdapter]:
    return [NvidiaNimAdapter()]
