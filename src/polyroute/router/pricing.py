"""Prices per token: `model_info` overrides first, then the shipped table.

The table is built from the providers' specs (`ProviderSpec.prices`, declared with each adapter):
an entry is found by `provider/model`, or by the bare model id (the first provider to list it),
so `azure/gpt-4o` is priced like OpenAI's gpt-4o unless model_info says otherwise.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from polyroute.router.deployment import Deployment

# model_info (and price table) fields that set what a request costs, USD per token.
PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)


@cache
def price_table() -> dict[str, dict[str, Any]]:
    """`provider/model` and bare `model` -> USD per token, from every provider's spec (built once)."""
    from polyroute.providers.registry import specs

    table: dict[str, dict[str, Any]] = {}
    for spec in specs():
        for model, entry in spec.prices.items():
            table[f"{spec.name}/{model}"] = dict(entry)
            table.setdefault(model, dict(entry))
    return table


def table_entry(deployment: Deployment) -> dict[str, Any]:
    """The shipped table's entry for a deployment: by `provider/model`, then by `model`.

    A mock model has none, whatever its name (`mock/gpt-4o` answers in process and costs
    nothing unless its model_info prices it), except a per-request `mock_response` standing in
    for a real deployment: that bills as the real model, so budgets hold for test traffic too."""
    provider = deployment.provider
    if provider == "mock":
        provider = deployment.call.extras.get("mock_stands_in_for")
        if not provider:
            return {}
    table = price_table()
    return table.get(f"{provider}/{deployment.call.model}") or table.get(deployment.call.model) or {}


def model_prices(deployment: Deployment) -> tuple[float | None, float | None]:
    """(input, output) USD per token for a deployment, or None where unknown."""
    info = deployment.model_info
    entry = table_entry(deployment)
    prompt = info.get("input_cost_per_token", entry.get("input_cost_per_token"))
    completion = info.get("output_cost_per_token", entry.get("output_cost_per_token"))
    return (
        float(prompt) if prompt is not None else None,
        float(completion) if completion is not None else None,
    )


def price_per_token(deployment: Deployment) -> float | None:
    prompt, completion = model_prices(deployment)
    if prompt is None and completion is None:
        return None
    return (prompt or 0.0) + (completion or 0.0)


def query_price(deployment: Deployment) -> float:
    """USD per search unit of a rerank call (LiteLLM's `input_cost_per_query`; Cohere bills
    rerank per search): model_info first, then the table; 0 when neither names one."""
    table = price_table()
    entry = (
        table.get(f"{deployment.provider}/{deployment.call.model}") or table.get(deployment.call.model) or {}
    )
    value = deployment.model_info.get("input_cost_per_query", entry.get("input_cost_per_query"))
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0.0
    )
