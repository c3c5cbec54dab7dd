"""What a request cost: provider usage priced from the shipped table or `model_info` overrides.

Money on the budget path is integer micro-dollars (atomic counters, no float drift); spend logs
keep the exact USD float as well. Prices are USD per token, LiteLLM's field names:
input_cost_per_token, output_cost_per_token, cache_read_input_token_cost,
cache_creation_input_token_cost, output_cost_per_reasoning_token. A missing cache or reasoning
price falls back to the plain input or output price (what providers bill when they name none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polyroute.router.deployment import Deployment
from polyroute.router.pricing import PRICE_FIELDS, table_entry
from polyroute.router.tokens import CHARS_PER_TOKEN as TEXT_CHARS_PER_TOKEN

if TYPE_CHECKING:
    from polyroute.router.engine import Router

MICROS_PER_USD = 1_000_000
DEFAULT_MAX_OUTPUT_TOKENS = 4096  # a reservation's bound when no request, model_info or table entry sets one
CHARS_PER_TOKEN_BOUND = 4  # tokens never outnumber characters: chars bound the prompt's tokens


@dataclass(frozen=True, slots=True)
class Prices:
    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_creation: float = 0.0
    reasoning: float = 0.0
    known: bool = False  # False: no price anywhere; cost is 0 and said to be unknown


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt: int = 0  # includes cached and cache-creation tokens (OpenAI's convention)
    completion: int = 0  # includes reasoning tokens
    cached: int = 0
    cache_creation: int = 0
    reasoning: int = 0
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.prompt + self.completion


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


def _table_entry(deployment: Deployment) -> dict[str, Any]:
    return table_entry(deployment)


def _lookup_prices(deployment: Deployment) -> Prices:
    entry = _table_entry(deployment)
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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from(usage: dict[str, Any] | None, estimated: bool = False) -> TokenUsage | None:
    """OpenAI-shaped usage (as every adapter reports it) -> TokenUsage; None when there is none."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    if not prompt and not completion and _count(usage.get("total_tokens")):
        prompt = _count(usage.get("total_tokens"))  # embeddings from servers that send only a total
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    reasoning = (
        _count(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    )
    creation = _count(usage.get("cache_creation_input_tokens"))  # Anthropic, as its adapter maps it
    return TokenUsage(
        prompt=prompt,
        completion=completion,
        cached=min(cached, prompt),
        cache_creation=min(creation, max(0, prompt - cached)),
        reasoning=min(reasoning, completion),
        estimated=estimated,
    )


def estimate_answer_tokens(answer: Any) -> int:
    """Completion tokens of an OpenAI-format answer that came without usage: about four
    characters a token over its choices' text and tool-call arguments (an estimate, flagged so)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
        return 0
    chars = 0
    for choice in answer["choices"]:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        for text in (message.get("content"), message.get("reasoning_content"), choice.get("text")):
            if isinstance(text, str):
                chars += len(text)
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                chars += len(str(call["function"].get("arguments") or ""))
    return -(-chars // TEXT_CHARS_PER_TOKEN)


def cost_usd(prices: Prices, usage: TokenUsage) -> float:
    plain_in = usage.prompt - usage.cached - usage.cache_creation
    plain_out = usage.completion - usage.reasoning
    return (
        plain_in * prices.input
        + usage.cached * prices.cache_read
        + usage.cache_creation * prices.cache_creation
        + plain_out * prices.output
        + usage.reasoning * prices.reasoning
    )


def to_micros(usd: float) -> int:
    """Rounded up, so budgets never under-count (by at most one micro-dollar per request)."""
    return max(0, math.ceil(usd * MICROS_PER_USD - 1e-9))


OUTPUT_LIMIT_PARAMS = ("max_completion_tokens", "max_tokens")


def declared_max_output(deployment: Deployment) -> int | None:
    """The most tokens the deployment's model answers with, as declared: model_info's
    max_output_tokens (or max_tokens), else the shipped table's max_output_tokens."""
    own = [deployment.model_info.get(n) for n in ("max_output_tokens", "max_tokens")]
    # The shipped table knows the models it prices: without it, a long answer to a request
    # with no max_tokens (16k tokens from gpt-4o, 64k from Claude) would cost several times
    # its reservation, and concurrent ones could overshoot a budget by more than one.
    own.append(_table_entry(deployment).get("max_output_tokens"))
    found = [v for v in own if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    return found[0] if found else None


def requested_max_output(body: dict[str, Any]) -> int | None:
    for name in OUTPUT_LIMIT_PARAMS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def max_output_tokens(body: dict[str, Any], group: list[Deployment]) -> int:
    """The most output tokens the request can get from any deployment of `group`: its max_tokens
    as each deployment will receive it (clamped to the model's maximum, server/params.py), else
    the largest model maximum."""
    requested = requested_max_output(body)
    limits = [declared_max_output(d) for d in group]
    if requested is not None:
        return max((min(requested, limit) if limit else requested for limit in limits), default=requested)
    known = [limit for limit in limits if limit]
    return max(known) if known else DEFAULT_MAX_OUTPUT_TOKENS


def reservation_micros(
    body: dict[str, Any], prompt_estimate: int, group: list[Deployment], chat: bool
) -> int:
    """An upper bound of what this request can cost on any deployment of its model group.

    The prompt is bounded by its characters (no tokenizer gives more tokens than characters) and
    the output by max_tokens (or the model's limit). A bound, not a guess: concurrent requests
    near a budget then overshoot it by at most one request's cost.
    """
    prices = [prices_for(d) for d in group]
    if not any(p.known for p in prices):
        return 0
    input_price = max(max(p.input, p.cache_creation, p.cache_read) for p in prices)
    output_price = max(max(p.output, p.reasoning) for p in prices)
    prompt_bound = prompt_estimate * CHARS_PER_TOKEN_BOUND
    n = body.get("n") if isinstance(body.get("n"), int) and body.get("n", 0) > 0 else 1
    output_bound = max_output_tokens(body, group) * n if chat else 0
    return to_micros(prompt_bound * input_price + output_bound * output_price)


_FALLBACK_FIELDS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def reservation_group(router: Router, model: Any, body: dict[str, Any]) -> list[Deployment]:
    """Every deployment that may serve this request: its model group and the groups it can fall
    back to (the body's lists, else the router's), so a reservation bounds the dearest of them."""
    if not isinstance(model, str):
        return []
    settings = router.settings
    group = settings.model_group_alias.get(model, model)
    names = [model]
    for field in _FALLBACK_FIELDS:
        given = body.get(field)
        if isinstance(given, list):
            chain = [item.get("model") if isinstance(item, dict) else item for item in given]
        else:
            chain = getattr(settings, field).get(group, [])
            if field == "fallbacks" and not chain:
                chain = settings.fallbacks.get("*") or list(settings.default_fallbacks)
        names += chain[: settings.max_fallbacks]
    found: dict[int, Deployment] = {}
    for name in names:
        if isinstance(name, str):
            for deployment in router.resolve(name):
                found.setdefault(id(deployment), deployment)
    return list(found.values())
