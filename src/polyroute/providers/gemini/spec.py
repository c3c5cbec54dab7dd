"""The gemini provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

# List prices as published on 2026-12-02, USD per token (LiteLLM's field names: router/pricing.py);
# model_info overrides any of them per deployment.
PRICES = {
    "gemini-2.5-pro": {
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 3.125e-07,
        "output_cost_per_reasoning_token": 1e-05,
        "max_output_tokens": 65536,
    },
    "gemini-2.5-flash": {
        "input_cost_per_token": 3e-07,
        "output_cost_per_token": 2.5e-06,
        "cache_read_input_token_cost": 7.5e-08,
        "output_cost_per_reasoning_token": 2.5e-06,
        "max_output_tokens": 65536,
    },
    "gemini-2.5-flash-lite": {
        "input_cost_per_token": 1e-07,
        "output_cost_per_token": 4e-07,
        "output_cost_per_reasoning_token": 4e-07,
        "cache_read_input_token_cost": 2.5e-08,
        "max_output_tokens": 65536,
    },
}

SPEC = ProviderSpec(
    name="gemini",
    label="Google AI Studio (Gemini)",
    api="Gemini generateContent",
    aliases=("google_ai_studio",),
    # FastChat's arena reads GEMINI_API_KEY, its classifier GENAI_API_KEY; LiteLLM's name last.
    key_env=("GEMINI_API_KEY", "GENAI_API_KEY", "GOOGLE_API_KEY"),
    default_api_base="https://generativelanguage.googleapis.com",
    capabilities=frozenset({"chat", "embeddings", "tools", "vision", "reasoning"}),
    bare_model_prefixes=("gemini",),
    fastchat_api_types=("gemini", "gemini_no_stream"),
    retired_env=(("BARD_API_KEY", "Bard"),),
    otel_name="gcp.gemini",
    prices=PRICES,
)
