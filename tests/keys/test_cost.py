"""Costs from the shipped price table and model_info overrides; reservations bound real costs."""

from __future__ import annotations

import pytest

from polyroute.config.loader import load_config
from polyroute.router.pricing import prices_for
from polyroute.router.tokens import estimate_prompt_tokens
from polyroute.spend.cost import (
    cost_usd,
    reservation_micros,
    to_micros,
    usage_from,
)
from polyroute.spend.periods import DurationError, duration_seconds, period_index
from polyroute.usage import TokenUsage


def deployment(model: str, **model_info):
    config = load_config(
        None, {"OPENAI_API_KEY": "sk-x-0000000000", "ANTHROPIC_API_KEY": "sk-ant-0000000000"}
    )
    from polyroute.config.loader import build_deployment
    from polyroute.config.schema import ModelEntry
    from polyroute.secrets import Redactor

    entry = ModelEntry.model_validate(
        {
            "model_name": "m",
            "litellm_params": {"model": model, "api_key": "sk-test-000000"},
            "model_info": model_info,
        }
    )
    assert config is not None
    return build_deployment(0, entry, {}, Redactor(), False)


def test_table_prices_with_cache_and_reasoning() -> None:
    prices = prices_for(deployment("openai/o4-mini"))
    usage = usage_from(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 400},
            "completion_tokens_details": {"reasoning_tokens": 300},
        }
    )
    assert usage == TokenUsage(prompt=1000, completion=500, cached=400, reasoning=300)
    expected = 600 * 1.1e-6 + 400 * 2.75e-7 + 200 * 4.4e-6 + 300 * 4.4e-6
    assert cost_usd(prices, usage) == pytest.approx(expected)


def test_anthropic_cache_writes_are_priced_as_writes() -> None:
    prices = prices_for(deployment("anthropic/claude-sonnet-4-5"))
    usage = usage_from(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 100},
            "cache_creation_input_tokens": 200,
        }
    )
    expected = 700 * 3e-6 + 100 * 3e-7 + 200 * 3.75e-6 + 10 * 1.5e-5
    assert cost_usd(prices, usage) == pytest.approx(expected)


def test_model_info_overrides_and_unknown_models() -> None:
    priced = prices_for(deployment("openai/gpt-4o", input_cost_per_token=1e-3, output_cost_per_token=2e-3))
    assert (priced.input, priced.output, priced.cache_read) == (1e-3, 2e-3, 1.25e-6)
    unknown = prices_for(deployment("openai/some-local-model"))
    assert not unknown.known and cost_usd(unknown, TokenUsage(prompt=10, completion=10)) == 0.0


def test_micros_round_up_and_reservations_bound_the_cost() -> None:
    assert to_micros(1.65e-6) == 2 and to_micros(0.0) == 0 and to_micros(1e-6) == 1
    group = [deployment("openai/gpt-4o-mini")]
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 100}
    reserve = reservation_micros(body, estimate_prompt_tokens(body), group, chat=True)
    worst = cost_usd(prices_for(group[0]), TokenUsage(prompt=400, completion=100))  # a token per character
    assert reserve >= to_micros(worst)


def test_without_max_tokens_the_reservation_covers_the_models_longest_answer() -> None:
    """No max_tokens in the request: the bound is the model's own output limit (model_info, else
    the shipped table), so a 16k-token gpt-4o answer never costs more than it reserved."""
    from polyroute.router.pricing import price_table

    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 40}]}
    estimate = estimate_prompt_tokens(body)
    for model in ("gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "o3"):
        provider = {"claude": "anthropic", "gemini": "gemini"}.get(model.split("-")[0], "openai")
        group = [deployment(f"{provider}/{model}")]
        longest = price_table()[model]["max_output_tokens"]
        assert longest > 4096
        worst = cost_usd(prices_for(group[0]), TokenUsage(prompt=40, completion=longest))
        assert reservation_micros(body, estimate, group, chat=True) >= to_micros(worst), model
    # The operator's model_info wins over the table; the request's max_tokens over both.
    own = [deployment("openai/gpt-4o", max_output_tokens=100)]
    assert reservation_micros(body, estimate, own, chat=True) < reservation_micros(
        body, estimate, [deployment("openai/gpt-4o")], chat=True
    )
    short = {**body, "max_tokens": 10}
    assert reservation_micros(short, estimate, own, chat=True) < reservation_micros(
        body, estimate, own, chat=True
    )


def test_durations_and_periods() -> None:
    assert duration_seconds("30d") == 2_592_000 and duration_seconds("1mo") == 2_592_000
    assert duration_seconds("90s") == 90 and duration_seconds("2h") == 7200
    for bad in ("monthly", "0d", "-1d", "5y", ""):
        with pytest.raises(DurationError):
            duration_seconds(bad)
    assert period_index(1000.0, 100.0, 1099.9) == 0 and period_index(1000.0, 100.0, 1100.0) == 1


def _router(tmp_path, router_settings: dict):
    import yaml

    from polyroute.router.engine import Router
    from polyroute.state.memory import MemoryState

    entries = [
        {"model_name": "cheap", "litellm_params": {"model": "openai/gpt-4.1-nano", "api_key": "sk-a-000000"}},
        {"model_name": "dear", "litellm_params": {"model": "openai/gpt-4.1", "api_key": "sk-b-000000"}},
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": entries, "router_settings": router_settings}))
    config = load_config(path, {})
    return Router(config.models, config.router, MemoryState())


def test_reservations_cover_the_dearest_fallback(tmp_path) -> None:
    """A request that may fall back to a dearer group reserves that group's price: otherwise
    concurrent requests falling back would overshoot a budget by more than one request."""
    from polyroute.spend.cost import reservation_group

    body = {"model": "cheap", "messages": [{"role": "user", "content": "x" * 40}], "max_tokens": 100}
    estimate = estimate_prompt_tokens(body)

    def reserve(router, **extra):
        group = reservation_group(router, "cheap", {**body, **extra})
        return reservation_micros(body, estimate, group, chat=True), {d.model_name for d in group}

    plain = _router(tmp_path, {})
    alone, names = reserve(plain)
    assert names == {"cheap"}
    configured = _router(tmp_path, {"fallbacks": [{"cheap": ["dear"]}]})
    with_fallback, names = reserve(configured)
    assert names == {"cheap", "dear"} and with_fallback > alone
    worst = cost_usd(prices_for(configured.resolve("dear")[0]), TokenUsage(prompt=40, completion=100))
    assert with_fallback >= to_micros(worst)
    assert reserve(plain, fallbacks=["dear"]) == (with_fallback, {"cheap", "dear"})  # the body's list
    assert reserve(_router(tmp_path, {"default_fallbacks": ["dear"]}))[1] == {"cheap", "dear"}
    capped = _router(tmp_path, {"fallbacks": [{"cheap": ["dear"]}], "max_fallbacks": 0})
    assert reserve(capped)[1] == {"cheap"}


@pytest.mark.parametrize("price", [-1e-6, "free", True, float("nan"), float("inf")])
def test_prices_must_be_non_negative_numbers(tmp_path, price) -> None:
    """A negative price would lower the spend of a key, its team and its user."""
    import yaml

    from polyroute.config.loader import ConfigError

    entry = {
        "model_name": "m",
        "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-a-000000"},
        "model_info": {"output_cost_per_token": price},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [entry]}))
    with pytest.raises(ConfigError, match=r"model_info.output_cost_per_token must be a number >= 0"):
        load_config(path, {})
