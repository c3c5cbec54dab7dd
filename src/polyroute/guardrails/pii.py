"""`pii_mask`: e-mail addresses, phone numbers, payment card numbers (Luhn-checked) and API
keys or secrets in the prompt are replaced with placeholders before it leaves the gateway.

Placeholders use Presidio's entity names (`[EMAIL_ADDRESS]`, `[PHONE_NUMBER]`, `[CREDIT_CARD]`,
`[API_KEY]`), which LiteLLM's PII masking also shows. Runs locally, pre_call only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from polyroute.guardrails import content
from polyroute.guardrails.base import ALLOW, Guardrail, Verdict

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# 13 to 19 digits, optionally grouped by spaces or dashes; the Luhn check decides.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# International or North-American style numbers: at least 7 digits with separators allowed.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?!\w)")
# Well-known key shapes, and `secret=...`-style assignments.
_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
    r"|(?i:\b(?:api[_-]?key|secret|token|password)\s*[:=]\s*)[^\s\"',;]{8,}"
)

ENTITIES = ("EMAIL_ADDRESS", "CREDIT_CARD", "API_KEY", "PHONE_NUMBER")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CREDIT_CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group())
    return "[PHONE_NUMBER]" if 7 <= digits <= 15 else match.group()


_MASKERS: dict[str, Callable[[str], str]] = {
    "EMAIL_ADDRESS": lambda text: _EMAIL.sub("[EMAIL_ADDRESS]", text),
    # keys before cards and phones: a key's digits must not be half-masked as a number
    "API_KEY": lambda text: _KEY.sub("[API_KEY]", text),
    "CREDIT_CARD": lambda text: _CARD.sub(_card, text),
    "PHONE_NUMBER": lambda text: _PHONE.sub(_phone, text),
}
_ORDER = ("EMAIL_ADDRESS", "API_KEY", "CREDIT_CARD", "PHONE_NUMBER")


def mask_text(text: str, entities: frozenset[str]) -> str:
    for entity in _ORDER:
        if entity in entities:
            text = _MASKERS[entity](text)
    return text


class PIIMaskGuardrail(Guardrail):
    kind = "pii_mask"
    masks = True
    remote = False
    allowed_modes = ("pre_call",)

    def __init__(self, *, entities: list[str] | None, **common: Any) -> None:
        super().__init__(**common)
        chosen = [e.upper() for e in (entities or ENTITIES)]
        unknown = [e for e in chosen if e not in ENTITIES]
        if unknown:
            raise ValueError(f"pii_entities: unknown {unknown[0]!r}; known: {', '.join(ENTITIES)}")
        self.entities = frozenset(chosen)

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        changed = False

        def change(text: str) -> str:
            nonlocal changed
            masked = mask_text(text, self.entities)
            changed = changed or masked != text
            return masked

        masked = content.map_texts(messages, change)
        return Verdict("mask", messages=masked) if changed else ALLOW
