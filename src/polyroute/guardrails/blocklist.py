"""`blocklist`: words and regular expressions the operator forbids, checked locally.

Words match whole words, case-insensitively; patterns are Python regular expressions. A match
blocks with the guardrail's `category` (default "blocklist"); the matched text is never named.
"""

from __future__ import annotations

import re
from typing import Any

from polyroute.guardrails import content
from polyroute.guardrails.base import ALLOW, Guardrail, Verdict


class BlocklistGuardrail(Guardrail):
    kind = "blocklist"
    remote = False

    def __init__(
        self, *, blocked_words: list[str], blocked_patterns: list[str], category: str, **common: Any
    ) -> None:
        super().__init__(**common)
        alternatives = [r"\b" + re.escape(w) + r"\b" for w in blocked_words] + list(blocked_patterns)
        if not alternatives:
            raise ValueError("needs blocked_words or blocked_patterns")
        self.pattern = re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)
        self.category = category

    def _verdict(self, text: str) -> Verdict:
        return Verdict("block", self.category) if self.pattern.search(text) else ALLOW

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        for text in content.texts(messages):
            if self.pattern.search(text):
                return Verdict("block", self.category)
        return ALLOW

    async def check_output(self, text: str, http: Any) -> Verdict:
        return self._verdict(text)
