"""What a request cost: provider usage priced by router/pricing.py (the shipped table or
`model_info` overrides), and what a budget reserves before the request runs.

Money on the budget path is integer micro-dollars (atomic counters, no float drift); spend logs
keep the exact USD float as well.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from polyroute.router.deployment import Deployment
from polyroute.router.engine import RequestOptions
from polyroute.router.pricing import Prices, prices_for, table_entry
from polyroute.router.tokens import CHARS_PER_TOKEN as TEXT_CHARS_PER_TOKEN
from polyroute.usage import TokenUsage

if TYPE_CHECKING:
    from polyroute.router.engine import Router

MICROS_PER_USD = 1_000_000
DEFAULT_MAX_OUTPUT_TOKENS = 4096  # a reservation's bound when no request, model_info or table entry sets one
CHARS_PER_TOKEN_BOUND = 4  # tokens never outnumber characters: chars bound the prompt's tokens


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
    own.append(table_entry(deployment).get("max_output_tokens"))
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


def reservation_group(router: Router, model: Any, body: dict[str, Any]) -> list[Deployment]:
    """Every deployment that may serve this request (the router's reach: its model group and the
    groups it can fall back to), so a reservation bounds the dearest of them."""
    if not isinstance(model, str):
        return []
    return router.reachable_deployments(model, _body_fallbacks(body))


def _body_fallbacks(body: dict[str, Any]) -> RequestOptions:
    """The body's fallback lists as the router reads them (LiteLLM also takes {"model": ...}
    objects), unvalidated: admission runs before the route checks them."""

    def names(field: str) -> list[Any] | None:
        given = body.get(field)
        if not isinstance(given, list):
            return None
        return [item.get("model") if isinstance(item, dict) else item for item in given]

    return RequestOptions(
        fallbacks=names("fallbacks"),
        context_window_fallbacks=names("context_window_fallbacks"),
        content_policy_fallbacks=names("content_policy_fallbacks"),
    )
