"""Prices per token: `model_info` overrides first, then the shipped table. The one module that
owns the table and every price lookup (spend/cost.py prices usage with `prices_for`; the
cost-based routing strategy, /model/info and rerank read their prices here too).

The table is built from the providers' specs (`ProviderSpec.prices`, declared with each adapter):
an entry is found by `provider/model`, or by the bare model id (the first provider to list it),
so `azure/gpt-4o` is priced like OpenAI's gpt-4o unless model_info says otherwise. Prices are
USD per token, LiteLLM's field names: input_cost_per_token, output_cost_per_token,
cache_read_input_token_cost, cache_creation_input_token_cost, output_cost_per_reasoning_token.
A missing cache or reasoning price falls back to the plain input or output price (what providers
bill when they name none).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Prices:
    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_creation: float = 0.0
    reasoning: float = 0.0
    known: bool = False  # False: no price anywhere; cost is 0 and said to be unknown


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
    return _entry(provider, deployment.call.model)


def _entry(provider: str, model: str) -> dict[str, Any]:
    table = price_table()
    return table.get(f"{provider}/{model}") or table.get(model) or {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_PRICES: dict[tuple[Any, ...], Prices] = {}
_PRICES_MAX = 4096  # wildcard deployments are made per requested name: keep the memo bounded


def prices_for(deployment: Deployment) -> Prices:
    """model_info overrides first, then the table by `provider/model`, then by `model` (memoised:
    the same model with the same overrides always has the same prices)."""
    info = deployment.model_info
    memo_key = (
        deployment.provider,
        deployment.call.model,
        deployment.call.extras.get("mock_stands_in_for"),
        *(info.get(name) for name in PRICE_FIELDS),
    )
    prices = _PRICES.get(memo_key)
    if prices is None:
        if len(_PRICES) >= _PRICES_MAX:
            _PRICES.clear()
        prices = _PRICES[memo_key] = _lookup_prices(deployment)
    return prices


def _lookup_prices(deployment: Deployment) -> Prices:
    entry = table_entry(deployment)
    info = deployment.model_info
    found = {name: _number(info.get(name, entry.get(name))) for name in PRICE_FIELDS}
    if found["input_cost_per_token"] is None and found["output_cost_per_token"] is None:
        return Prices()
    base_in = found["input_cost_per_token"] or 0.0
    base_out = found["output_cost_per_token"] or 0.0
    read, creation = found["cache_read_input_token_cost"], found["cache_creation_input_token_cost"]
    reasoning = found["output_cost_per_reasoning_token"]
    return Prices(
        input=base_in,
        output=base_out,
        cache_read=base_in if read is None else read,
        cache_creation=base_in if creation is None else creation,
        reasoning=base_out if reasoning is None else reasoning,
        known=True,
    )


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
    entry = _entry(deployment.provider, deployment.call.model)
    value = deployment.model_info.get("input_cost_per_query", entry.get("input_cost_per_query"))
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0.0
    )
