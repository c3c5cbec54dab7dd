"""Prices per token: `model_info` overrides first, then the shipped table (data/prices.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
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
    """The shipped, versioned price table: model id -> USD per token (read once)."""
    text = resources.files("polyroute.data").joinpath("prices.json").read_text(encoding="utf-8")
    return json.loads(text)["models"]


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
