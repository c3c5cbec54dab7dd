"""Secrets held in objects whose repr never shows them, and one scrubber for outgoing text."""

from __future__ import annotations

import re
from collections.abc import Iterable


class Secret:
    """A credential. `str()`/`repr()` are masked; only `reveal()` gives the value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str | None = None) -> None:
        self._value = value
        self.source = source  # e.g. "os.environ/OPENAI_API_KEY": safe to show

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        return "****" if len(self._value) < 12 else f"{self._value[:3]}****{self._value[-2:]}"

    def __repr__(self) -> str:
        return f"Secret({self.source or '****'})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# Shapes of provider keys that may appear in provider error text (OpenAI echoes part of a bad key).
# The prefixes must start a word, so that log text such as "network_error" or "worker-address"
# is left alone (the scrubber also runs over every log line: polyroute/logs.py).
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:sk|pk|rk|key|sess|AIza)[-_A-Za-z0-9]*[-_][A-Za-z0-9*_\-]{6,}|AIza[0-9A-Za-z_\-]{20,}|"
    r"AKIA[0-9A-Z]{16}|Bearer\s+[A-Za-z0-9._\-]{8,}",
)


class Redactor:
    """Removes known secret values and key-shaped strings from text leaving the gateway."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: set[str] = {s for s in secrets if s and len(s) >= 4}

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            self._known.add(value)

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        for value in (*self._known, *extra):
            if value and len(value) >= 4 and value in text:
                text = text.replace(value, "[redacted]")
        return _KEY_SHAPES.sub("[redacted]", text)
