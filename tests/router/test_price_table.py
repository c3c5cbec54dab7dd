"""The price table is built from the providers' specs (ProviderSpec.prices)."""

from __future__ import annotations

from polyroute.providers.registry import specs
from polyroute.router.pricing import price_table


def test_the_price_table_is_built_from_every_specs_prices():
    table = price_table()
    priced = [s for s in specs() if s.prices]
    assert {s.name for s in priced} >= {"openai", "anthropic", "gemini", "mistral", "deepseek"}
    for spec in priced:
        for model, entry in spec.prices.items():
            assert table[f"{spec.name}/{model}"] == dict(entry)
            assert model in table  # a bare id prices the same model behind another provider
    assert table["gpt-4o"] == table["openai/gpt-4o"]
    assert table["anthropic/claude-haiku-4-5"]["cache_creation_input_token_cost"] == 1.25e-06
