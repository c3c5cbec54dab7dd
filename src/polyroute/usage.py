"""A request's token usage, as every sink reads it (a leaf: imports nothing of polyroute).

OpenAI's conventions: `prompt` includes cached and cache-creation tokens, `completion` includes
reasoning tokens. `estimated` marks counts the gateway estimated because the provider sent none.
Parsing a provider's usage and pricing it live in spend/cost.py.
"""

from __future__ import annotations

from dataclasses import dataclass


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
