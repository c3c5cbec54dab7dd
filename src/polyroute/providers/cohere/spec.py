"""The cohere provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.providers.spec import ProviderSpec

# Cohere's list prices (cohere.com/pricing, USD per token; LiteLLM's field names: spend/cost.py).
# Rerank is billed per search: USD 2 per 1,000 searches (LiteLLM's input_cost_per_query).
PRICES = {
    "command-a-03-2025": {
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "max_output_tokens": 8000,
    },
    "command-r-plus-08-2024": {
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "max_output_tokens": 4000,
    },
    "command-r-08-2024": {
        "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 6e-07,
        "max_output_tokens": 4000,
    },
    "command-r7b-12-2024": {
        "input_cost_per_token": 3.75e-08,
        "output_cost_per_token": 1.5e-07,
        "max_output_tokens": 4000,
    },
    "embed-v4.0": {"input_cost_per_token": 1.2e-07, "output_cost_per_token": 0.0},
    "embed-english-v3.0": {"input_cost_per_token": 1e-07, "output_cost_per_token": 0.0},
    "embed-multilingual-v3.0": {"input_cost_per_token": 1e-07, "output_cost_per_token": 0.0},
    "rerank-v3.5": {"input_cost_per_query": 0.002},
    "rerank-english-v3.0": {"input_cost_per_query": 0.002},
    "rerank-multilingual-v3.0": {"input_cost_per_query": 0.002},
}

SPEC = ProviderSpec(
    name="cohere",
    label="Cohere",
    aliases=("cohere_chat",),
    # FastChat's name first, then the one Cohere's own SDK reads.
    key_env=("COHERE_API_KEY", "CO_API_KEY"),
    base_env=("COHERE_API_BASE",),
    default_api_base="https://api.cohere.com",
    capabilities=frozenset({"chat", "embeddings", "rerank", "tools", "vision"}),
    bare_model_prefixes=("command-", "embed-english", "embed-multilingual", "embed-v", "rerank-"),
    fastchat_api_types=("cohere",),
    otel_name="cohere",
    docs="docs/providers/cohere.md",
    api="Cohere v2 chat, embed, rerank",
    prices=PRICES,
)
