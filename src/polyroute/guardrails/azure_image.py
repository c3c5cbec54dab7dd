"""`azure_image_moderation`: Azure AI Content Safety's image analysis
(`POST {endpoint}/contentsafety/image:analyze?api-version=...`, `Ocp-Apim-Subscription-Key`).

Every image of the request is analysed (base64 `content` for data URLs, `blobUrl` for others);
an image blocks when a category's severity reaches its threshold (`severity_threshold`, default
4 of the four-level scale 0/2/4/6, or `category_thresholds` per category: Hate, SelfHarm,
Sexual, Violence). Endpoint and key default to FastChat's AZURE_IMG_MODERATION_ENDPOINT and
AZURE_IMG_MODERATION_API_KEY.
"""

from __future__ import annotations

import asyncio
from typing import Any

from polyroute.guardrails import content
from polyroute.guardrails.base import ALLOW, Guardrail, GuardrailFailure, Verdict
from polyroute.guardrails.remote import post_json
from polyroute.secrets import Secret

API_VERSION = "2024-09-01"
ANALYZE_PATH = "/contentsafety/image:analyze"


class AzureImageModerationGuardrail(Guardrail):
    kind = "azure_image_moderation"
    allowed_modes = ("pre_call", "during_call")

    def __init__(
        self,
        *,
        api_key: Secret,
        api_base: str,
        api_version: str,
        severity_threshold: int,
        category_thresholds: dict[str, int],
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.api_key = api_key
        base = api_base.rstrip("/")
        # A full analyze URL is taken as it is (FastChat's variable held a full URL).
        url = base if ":analyze" in base else base + ANALYZE_PATH
        if "api-version=" not in url:
            url += ("&" if "?" in url else "?") + "api-version=" + api_version
        self.url = url
        self.severity_threshold = severity_threshold
        self.thresholds = category_thresholds

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        urls = content.images_to_check(messages)
        if not urls:
            return ALLOW
        verdicts = await asyncio.gather(*(self._analyze(url, http) for url in urls))
        return next((v for v in verdicts if v.action == "block"), ALLOW)

    async def _analyze(self, url: str, http: Any) -> Verdict:
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if not header.endswith(";base64"):
                raise GuardrailFailure("an image data URL is not base64")
            image: dict[str, str] = {"content": payload}
        else:
            image = {"blobUrl": url}
        headers = {"ocp-apim-subscription-key": self.api_key.reveal()}
        data = await post_json(
            http,
            "Azure Content Safety",
            self.url,
            headers,
            {"image": image, "outputType": "FourSeverityLevels"},
        )
        analysis = data.get("categoriesAnalysis")
        if not isinstance(analysis, list):
            raise GuardrailFailure("Azure Content Safety answered without categoriesAnalysis")
        for item in analysis:
            if not isinstance(item, dict):
                continue
            category, severity = item.get("category"), item.get("severity")
            limit = self.thresholds.get(str(category), self.severity_threshold)
            if isinstance(severity, int) and severity >= limit:
                return Verdict("block", str(category), detail={"severity": severity})
        return ALLOW
