"""The mock provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    name="mock",
    label="Mock (offline, deterministic)",
    api="OpenAI, in-process",
    key_optional=True,
    default_api_base="mock://local",
    # no "completions": legacy completions are emulated over chat, logprobs included
    capabilities=frozenset({"chat", "embeddings", "tools"}),
    passthrough_stream=True,
    setting_prefixes=("mock_",),
    notes="in-process; mock_* settings in litellm_params",
)
