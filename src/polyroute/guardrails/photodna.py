"""`photodna`: Microsoft's PhotoDNA Cloud Service Match API
(`POST {api_base}/Match?enhance=false`, `Ocp-Apim-Subscription-Key`, key from PHOTODNA_API_KEY
as in FastChat).

An inline image (data URL) is sent as its bytes with its image type, as FastChat sends it; a
remote one as `{"DataRepresentation": "URL", "Value": url}`. `Status.Code` 3000 is success; an
answer with `IsMatch: true` blocks (category "csam") and is recorded with the service's
TrackingId (never the image) in the gateway log and the request's spend row.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from polyroute.guardrails import content
from polyroute.guardrails.base import ALLOW, Guardrail, GuardrailFailure, Verdict
from polyroute.guardrails.remote import post, post_json
from polyroute.secrets import Secret

DEFAULT_BASE = "https://api.microsoftmoderator.com/photodna/v1.0"
STATUS_OK = 3000
log = logging.getLogger("polyroute.guardrails")


class PhotoDNAGuardrail(Guardrail):
    kind = "photodna"
    allowed_modes = ("pre_call", "during_call")

    def __init__(self, *, api_key: Secret, api_base: str, enhance: bool, **common: Any) -> None:
        super().__init__(**common)
        self.api_key = api_key
        self.url = f"{api_base.rstrip('/')}/Match?enhance={'true' if enhance else 'false'}"

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        urls = content.images_to_check(messages)
        if not urls:
            return ALLOW
        verdicts = await asyncio.gather(*(self._match(url, http) for url in urls))
        return next((v for v in verdicts if v.action == "block"), ALLOW)

    async def _match(self, url: str, http: Any) -> Verdict:
        headers = {"ocp-apim-subscription-key": self.api_key.reveal()}
        if url.startswith("data:"):
            decoded = content.decode_data_url(url)
            if decoded is None:
                raise GuardrailFailure("an image data URL is not valid base64")
            media_type, image = decoded
            raw = await post(http, "PhotoDNA", self.url, {**headers, "content-type": media_type}, image)
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise GuardrailFailure("PhotoDNA answered with a body that is not JSON") from None
        else:
            data = await post_json(
                http, "PhotoDNA", self.url, headers, {"DataRepresentation": "URL", "Value": url}
            )
        status = data.get("Status") if isinstance(data, dict) else None
        code = status.get("Code") if isinstance(status, dict) else None
        if code != STATUS_OK:
            raise GuardrailFailure(f"PhotoDNA answered status {code!r}")
        if data.get("IsMatch") is True:
            tracking = str(data.get("TrackingId") or "")
            log.warning("PhotoDNA match: guardrail=%s tracking_id=%s", self.name, tracking)
            return Verdict("block", "csam", detail={"tracking_id": tracking})
        return ALLOW
