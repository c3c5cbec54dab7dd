"""Fake moderation services the guardrails call, each speaking its real wire format on loopback.

FakeModeration      OpenAI `POST /v1/moderations` (Bearer key; OpenAI's error body on 401).
                    Flags a text holding one of `flag_words` in that word's category.
FakeContentSafety   Azure AI Content Safety `POST /contentsafety/image:analyze?api-version=`
                    (`Ocp-Apim-Subscription-Key`; Azure's `{"error": {"code", "message"}}`).
                    An image whose bytes hold `UNSAFE:<Category>` gets severity 6 there.
FakePhotoDNA        PhotoDNA Cloud Service `POST /photodna/v1.0/Match` (image bytes with an image
                    content type, or `{"DataRepresentation": "URL", "Value"}`); `IsMatch` when
                    the image's SHA-256 is in `known`; `Status.Code` 3000, APIM's 401 body.
FakeGuardWebhook    the webhook contract: `block-me` blocks, `mask-me` masks, else allow.

Each can `stall` (hold every answer until reset or stop) for timeout tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import FakeUpstream, RecordedRequest, json_response

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)  # fmt: skip
AZURE_CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")


class _Stallable(FakeUpstream):
    def __init__(self) -> None:
        super().__init__()
        self.stall = False
        self._released: asyncio.Event | None = None

    async def _maybe_stall(self) -> None:
        if self.stall:
            if self._released is None:
                self._released = asyncio.Event()
            await self._released.wait()  # held until reset(); the gateway's timeout ends it first

    def reset(self) -> None:
        super().reset()
        self.stall = False
        if self._released is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._released.set)
            self._released = None


class FakeModeration(_Stallable):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.flag_words: dict[str, str] = {"stabbing": "violence", "slur": "hate"}

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/moderations", self.handler(self._moderate))]

    async def _moderate(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await self._maybe_stall()
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return json_response(
                {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                           "param": None, "code": "invalid_api_key"}},
                401,
            )  # fmt: skip
        body = rec.json or {}
        value = body.get("input")
        if isinstance(value, str):
            inputs = [(value, False)]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            inputs = [(v, False) for v in value]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            text = " ".join(p.get("text", "") for p in value if p.get("type") == "text")
            inputs = [(text, any(p.get("type") == "image_url" for p in value))]
        else:
            return json_response(
                {"error": {"message": "Invalid value for 'input'.", "type": "invalid_request_error",
                           "param": "input", "code": None}},
                400,
            )  # fmt: skip
        results = [self._result(text, image) for text, image in inputs]
        model = body.get("model") or "omni-moderation-latest"
        return json_response(
            {"id": "modr-" + uuid.uuid4().hex, "model": f"{model}-2024-09-26", "results": results},
            headers={"x-request-id": "req_" + uuid.uuid4().hex},
        )

    def _result(self, text: str, image: bool) -> dict[str, Any]:
        hit = {category for word, category in self.flag_words.items() if word in text.lower()}
        return {
            "flagged": bool(hit),
            "categories": {c: c in hit for c in CATEGORIES},
            "category_scores": {c: 0.97 if c in hit else 0.00012 for c in CATEGORIES},
            "category_applied_input_types": {c: ["text", "image"] if image else ["text"] for c in CATEGORIES},
        }


class FakeContentSafety(_Stallable):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/contentsafety/image:analyze", self.handler(self._analyze))]

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return json_response({"error": {"code": code, "message": message}}, status)

    async def _analyze(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await self._maybe_stall()
        if rec.headers.get("ocp-apim-subscription-key") != self.api_key:
            return self._error(
                401, "401", "Access denied due to invalid subscription key or wrong API endpoint."
            )
        if not rec.query.get("api-version"):
            return self._error(404, "404", "Resource not found")
        image = (rec.json or {}).get("image") or {}
        try:
            data = base64.b64decode(image["content"], validate=True) if "content" in image else b""
        except (ValueError, KeyError):
            return self._error(400, "InvalidRequestBody", "The image content is not valid base64.")
        if not data and "blobUrl" not in image:
            return self._error(400, "InvalidRequestBody", "Either content or blobUrl is required.")
        analysis = [
            {"category": c, "severity": 6 if f"UNSAFE:{c}".encode() in data else 0} for c in AZURE_CATEGORIES
        ]
        return json_response({"categoriesAnalysis": analysis})


class FakePhotoDNA(_Stallable):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.known: set[str] = set()  # SHA-256 hex of images the fake "matches"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/photodna/v1.0/Match", self.handler(self._match))]

    async def _match(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await self._maybe_stall()
        if rec.headers.get("ocp-apim-subscription-key") != self.api_key:
            return json_response(
                {"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to "
                 "provide a valid key for an active subscription."},
                401,
            )  # fmt: skip
        tracking = "1_photodna_" + str(uuid.uuid4())
        content_type = rec.headers.get("content-type", "")
        if content_type.startswith("image/"):
            image = rec.body
        elif content_type.startswith("application/json"):
            body = rec.json or {}
            if body.get("DataRepresentation") != "URL":
                return self._status(3002, "Invalid image", tracking)
            image = str(body.get("Value")).encode()  # the fake hashes the URL itself
        else:
            return self._status(3002, "Unsupported content type", tracking)
        match = hashlib.sha256(image).hexdigest() in self.known
        flags = [
            {"AdvancedInfo": [{"Key": "MatchId", "Value": "104149"}], "Source": "Test", "Violations": []}
        ]
        return json_response(
            {
                "Status": {"Code": 3000, "Description": "OK", "Exception": None},
                "ContentId": None,
                "IsMatch": match,
                "MatchDetails": {"AdvancedInfo": [], "MatchFlags": flags if match else []},
                "XPartnerCustomerId": None,
                "TrackingId": tracking,
                "EvaluateResponse": None,
            }
        )

    @staticmethod
    def _status(code: int, description: str, tracking: str) -> web.Response:
        return json_response(
            {"Status": {"Code": code, "Description": description, "Exception": None}, "TrackingId": tracking}
        )


class FakeGuardWebhook(_Stallable):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/guard", self.handler(self._decide))]

    async def _decide(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        await self._maybe_stall()
        if rec.headers.get("authorization") != f"Bearer {self.token}":
            return json_response({"detail": "unauthorized"}, 401)
        messages = (rec.json or {}).get("messages") or []
        text = orjson.dumps(messages).decode()
        if "block-me" in text:
            return json_response({"action": "block", "category": "custom-policy"})
        if "mask-me" in text:
            masked = orjson.loads(text.replace("mask-me", "[MASKED]"))
            return json_response({"action": "mask", "messages": masked})
        return json_response({"action": "allow"})
