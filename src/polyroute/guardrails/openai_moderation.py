"""`openai_moderation`: OpenAI's moderation endpoint (`POST {api_base}/moderations`).

The request carries the texts (and, for omni models, the images as `image_url` parts); every
result's categories decide. `category_thresholds` ({category: score}) replace the service's own
flag for the categories named: flagged when the score reaches the threshold.
"""

from __future__ import annotations

from typing import Any

from polyroute.guardrails import content
from polyroute.guardrails.base import ALLOW, Guardrail, GuardrailFailure, Verdict
from polyroute.guardrails.remote import post_json
from polyroute.secrets import Secret

DEFAULT_MODEL = "omni-moderation-latest"
DEFAULT_BASE = "https://api.openai.com/v1"


class OpenAIModerationGuardrail(Guardrail):
    kind = "openai_moderation"

    def __init__(
        self,
        *,
        api_key: Secret,
        api_base: str,
        model: str,
        category_thresholds: dict[str, float],
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.api_key = api_key
        self.url = api_base.rstrip("/") + "/moderations"
        self.model = model
        self.thresholds = category_thresholds

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        texts = [t for t in content.texts(messages) if t.strip()]
        images = content.images_to_check(messages)
        if not texts and not images:
            return ALLOW
        if images:
            parts: list[Any] = [{"type": "text", "text": t} for t in texts]
            parts += [{"type": "image_url", "image_url": {"url": u}} for u in images]
            return await self._moderate(parts, http)
        return await self._moderate(texts, http)

    async def check_output(self, text: str, http: Any) -> Verdict:
        return await self._moderate(text, http) if text.strip() else ALLOW

    async def _moderate(self, moderation_input: Any, http: Any) -> Verdict:
        headers = {"authorization": "Bearer " + self.api_key.reveal()}
        data = await post_json(
            http, "OpenAI moderation", self.url, headers, {"model": self.model, "input": moderation_input}
        )
        results = data.get("results")
        if not isinstance(results, list) or not results:
            raise GuardrailFailure("OpenAI moderation answered without results")
        for result in results:
            category = self._flagged(result)
            if category is not None:
                return Verdict("block", category)
        return ALLOW

    def _flagged(self, result: Any) -> str | None:
        if not isinstance(result, dict):
            raise GuardrailFailure("OpenAI moderation answered a result that is not an object")
        categories = result.get("categories") or {}
        scores = result.get("category_scores") or {}
        for name, limit in self.thresholds.items():
            score = scores.get(name)
            if isinstance(score, int | float) and score >= limit:
                return name
        for name, flagged in categories.items():
            if flagged is True and name not in self.thresholds:
                return name
        return None
