"""The mock's `/moderations` answer, in OpenAI's shape, flagged deterministically by test words.

A text holding `mock-flag-<category>` (e.g. `mock-flag-violence`, `mock-flag-self-harm`) is
flagged in that category with score 0.99; every other score is 0.0001. One result per input
(a string, a list of strings, or one multimodal input given as a list of parts).
"""

from __future__ import annotations

from typing import Any

from polyroute.providers.mock.replies import new_id

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
MAX_INPUTS = 32
MARK = "mock-flag-"


def inputs_of(value: Any) -> list[tuple[str, bool]] | None:
    """(text, has_image) per input; None when `value` is not a moderation input."""
    if isinstance(value, str):
        return [(value, False)]
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        return None
    if all(isinstance(v, str) for v in value):
        return [(v, False) for v in value]
    if all(isinstance(v, dict) for v in value):  # one multimodal input
        text = " ".join(str(p.get("text", "")) for p in value if p.get("type") == "text")
        return [(text, any(p.get("type") == "image_url" for p in value))]
    return None


def _result(text: str, has_image: bool) -> dict[str, Any]:
    lowered = text.lower()
    hit = {c for c in CATEGORIES if MARK + c in lowered}
    applied = ["text", "image"] if has_image else ["text"]
    return {
        "flagged": bool(hit),
        "categories": {c: c in hit for c in CATEGORIES},
        "category_scores": {c: 0.99 if c in hit else 0.0001 for c in CATEGORIES},
        "category_applied_input_types": {c: applied for c in CATEGORIES},
    }


def moderation(model: str, items: list[tuple[str, bool]]) -> dict[str, Any]:
    return {"id": new_id("modr"), "model": model, "results": [_result(t, i) for t, i in items]}
