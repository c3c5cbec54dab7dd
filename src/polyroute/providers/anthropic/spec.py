"""The anthropic provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

# List prices as published on 2026-12-02, USD per token (LiteLLM's field names: router/pricing.py);
# model_info overrides any of them per deployment.
PRICES = {
    "claude-sonnet-4-5": {
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "output_cost_per_reasoning_token": 1.5e-05,
        "max_output_tokens": 64000,
    },
    "claude-opus-4-1": {
        "input_cost_per_token": 1.5e-05,
        "output_cost_per_token": 7.5e-05,
        "cache_read_input_token_cost": 1.5e-06,
        "cache_creation_input_token_cost": 1.875e-05,
        "output_cost_per_reasoning_token": 7.5e-05,
        "max_output_tokens": 32000,
    },
    "claude-haiku-4-5": {
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 5e-06,
        "cache_read_input_token_cost": 1e-07,
        "cache_creation_input_token_cost": 1.25e-06,
        "output_cost_per_reasoning_token": 5e-06,
        "max_output_tokens": 64000,
    },
    "claude-3-5-haiku-20241022": {
        "input_cost_per_token": 8e-07,
        "output_cost_per_token": 4e-06,
        "max_output_tokens": 8192,
    },
}

SPEC = ProviderSpec(
    name="anthropic",
    label="Anthropic",
    api="Anthropic Messages",
    key_env=("ANTHROPIC_API_KEY",),
    default_api_base="https://api.anthropic.com",
    capabilities=frozenset({"chat", "tools", "vision", "reasoning"}),
    bare_model_prefixes=("claude",),
    setting_prefixes=("anthropic_version", "default_max_tokens", "cache_control_injection_points"),
    fastchat_api_types=("anthropic", "anthropic_message"),
    otel_name="anthropic",
    prices=PRICES,
)
