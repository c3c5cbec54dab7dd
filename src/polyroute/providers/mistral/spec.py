"""The mistral provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

# List prices as published on 2026-12-02, USD per token (LiteLLM's field names: router/pricing.py).
PRICES = {
    "mistral-large-latest": {
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 6e-06,
        "max_output_tokens": 131072,
    },
    "mistral-small-latest": {
        "input_cost_per_token": 1e-07,
        "output_cost_per_token": 3e-07,
        "max_output_tokens": 131072,
    },
    "mistral-embed": {"input_cost_per_token": 1e-07, "output_cost_per_token": 0.0},
}

SPEC = ProviderSpec(
    name="mistral",
    label="Mistral AI",
    api="Mistral chat (OpenAI-shaped, strict)",
    key_env=("MISTRAL_API_KEY",),
    default_api_base="https://api.mistral.ai/v1",
    capabilities=frozenset({"chat", "embeddings", "tools", "vision"}),
    passthrough_stream=True,
    bare_model_prefixes=("mistral-", "mixtral-", "codestral-", "open-mistral", "magistral-", "pixtral-"),
    setting_prefixes=("safe_prompt",),
    fastchat_api_types=("mistral",),
    otel_name="mistral_ai",
    docs="docs/providers/mistral.md",
    prices=PRICES,
)
