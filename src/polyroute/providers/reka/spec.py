"""The reka provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    name="reka",
    label="Reka",
    key_env=("REKA_API_KEY",),
    default_api_base="https://api.reka.ai/v1",
    capabilities=frozenset({"chat", "tools", "vision"}),
    fastchat_api_types=("reka",),
    docs="docs/providers/reka.md",
    api="Reka chat",
    notes="`<model>-online` turns on Reka's search (FastChat's convention)",
)
