"""The nvidia_nim provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

PROVIDER = "nvidia_nim"

SPEC = ProviderSpec(
    name=PROVIDER,
    label="NVIDIA NIM",
    api="OpenAI-compatible, NIM's per-model params",
    aliases=("nvidia",),
    key_env=("NVIDIA_API_KEY", "NVIDIA_NIM_API_KEY"),
    base_env=("NVIDIA_NIM_API_BASE",),
    default_api_base="https://integrate.api.nvidia.com/v1",
    capabilities=frozenset({"chat", "completions", "embeddings", "tools"}),
    passthrough_stream=True,
    fastchat_api_types=("nvidia",),
    docs="docs/providers/nvidia_nim.md",
)
