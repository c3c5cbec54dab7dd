"""Rate-limit headers as OpenAI's and LiteLLM's clients read them, so they can back off before a 429.

Two sources, LiteLLM's rules (docs.litellm.ai, "Response Headers"):

- The caller's own limits: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` from the
  key's, team's or user's rpm / tpm window, whichever has the least left. The limiter already
  knows the counts when it admits the request (`spend/limits.py` notes them on the ticket), so
  this costs no state round trip; the headers are built once per request.
- The provider's: its rate-limit headers (`x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`)
  passed on with LiteLLM's `llm_provider-` prefix; OpenAI-format ones (and Anthropic's, renamed
  to OpenAI's names, the reset time as a duration) also unprefixed where the caller's own limits
  did not set that header. Only rate-limit headers, at most MAX_PROVIDER_HEADERS of the
  upstream's, names and values of a strict shape (numbers, durations, dates):
  an upstream cannot put anything else into the client's response this way.

Reset times use OpenAI's duration format (`1s`, `6m0s`, `250ms`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

PROVIDER_PREFIX = "llm_provider-"
_RATE_LIMIT_NAMES = ("x-ratelimit-", "anthropic-ratelimit-")
MAX_PROVIDER_HEADERS = 16
_NAME = re.compile(r"[a-z0-9-]{1,64}")
_VALUE = re.compile(r"[0-9A-Za-z.:+\- ]{1,64}")  # 5000, 0.5s, 6m0s, 2026-12-04T21:00:00Z


def own_limit_headers(
    requests: tuple[int, int] | None, tokens: tuple[int, int] | None, reset_s: float
) -> list[tuple[bytes, bytes]]:
    """The caller's tightest rpm and tpm windows as (limit, remaining); `reset_s` until they end."""
    out: list[tuple[bytes, bytes]] = []
    reset = duration(reset_s).encode()
    for kind, counts in (("requests", requests), ("tokens", tokens)):
        if counts is not None:
            limit, remaining = counts
            out += [
                (f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()),
                (f"x-ratelimit-remaining-{kind}".encode(), str(max(0, remaining)).encode()),
                (f"x-ratelimit-reset-{kind}".encode(), reset),
            ]
    return out


def provider_limit_headers(
    upstream: Mapping[str, str], own: Sequence[tuple[bytes, bytes]] = ()
) -> dict[str, str]:
    """The upstream's rate-limit headers to pass on; `own` are the headers of the caller's own
    limits (the provider's unprefixed copies never replace those)."""
    out: dict[str, str] = {}
    passed = 0
    for name, value in upstream.items():
        names = _NAMES.get(name, _UNSEEN)
        if names is _UNSEEN:
            names = _learn(name)
        if names is None:
            continue
        value = value.strip()
        if not _VALUE.fullmatch(value):
            continue
        passed += 1
        if passed > MAX_PROVIDER_HEADERS:
            break
        prefixed, plain = names
        out[prefixed] = value
        if plain is not None and plain not in out and not (own and _sets(own, plain)):
            if plain.startswith("x-ratelimit-reset-") and not name.lower().startswith("x-ratelimit-"):
                value = _until(value)  # Anthropic gives the reset as a time of day
            if value:
                out[plain] = value
    return out


# What each upstream header name means here, learnt once per name (an upstream sends the same
# few names every time; bounded all the same): None for a header that is not passed on, else
# (its llm_provider- name, its OpenAI name or None).
_NAMES: dict[str, tuple[str, str | None] | None] = {}
_NAMES_MAX = 1024
_UNSEEN = object()


def _learn(name: str) -> tuple[str, str | None] | None:
    low = name.lower()
    names = None
    if low.startswith(_RATE_LIMIT_NAMES) and _NAME.fullmatch(low):
        plain = low if low.startswith("x-ratelimit-") else _ANTHROPIC_AS_OPENAI.get(low)
        names = (PROVIDER_PREFIX + low, plain)
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[name] = names
    return names


def _sets(own: Sequence[tuple[bytes, bytes]], plain: str) -> bool:
    wanted = plain.encode()
    return any(name == wanted for name, _ in own)


# Anthropic's rate-limit headers in OpenAI's names (LiteLLM standardises them the same way).
_ANTHROPIC_AS_OPENAI = {
    f"anthropic-ratelimit-{kind}-{what}": f"x-ratelimit-{what}-{kind}"
    for kind in ("requests", "tokens")
    for what in ("limit", "remaining", "reset")
}


def _until(timestamp: str) -> str:
    """An RFC 3339 time as OpenAI's duration from now ('' when it is not one)."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return duration(max(0.0, moment.timestamp() - time.time()))


def refused_headers(kind: str, limit: int, reset_s: float) -> dict[str, str]:
    """On a 429 for the caller's own `requests` or `tokens` limit: nothing left until the reset."""
    return {
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": "0",
        f"x-ratelimit-reset-{kind}": duration(reset_s),
    }


def duration(seconds: float) -> str:
    """OpenAI's reset format: `250ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"
