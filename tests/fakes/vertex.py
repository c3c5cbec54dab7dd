"""A protocol-faithful fake of Vertex AI and of Google's OAuth token endpoint.

Token exchange (`POST /token`, form-encoded, as google-auth's service-account credentials send
it): `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an RS256 `assertion` whose
signature is checked against the public key of the generated service account
(`service_account_info` makes one: a fresh RSA key, `token_uri` pointing here), with `iss` the
account's email, `aud` Google's token endpoint and the `cloud-platform` scope. The answer is Google's
`{"access_token", "expires_in", "token_type": "Bearer"}`; a bad assertion is `400
{"error": "invalid_grant", "error_description": ...}`.

Vertex routes: `POST /v1/projects/{project}/locations/{location}/publishers/{publisher}/models/
{model}:{method}`. The bearer token must be one this fake issued and not expired (401
UNAUTHENTICATED otherwise), the project the fake's (403 PERMISSION_DENIED). Publisher `google`:
`generateContent`, `streamGenerateContent` (SSE with `alt=sse`) rendered as the Gemini fake
renders them, and `predict` (text embeddings). Publisher `anthropic`: `rawPredict` and
`streamRawPredict`, rendered as the Anthropic fake renders Messages; the body must carry
`anthropic_version: vertex-2023-10-16` and no `model` (the URL names it). Errors are Google's
JSON for the google publisher and Vertex's own refusals; an `Error` scripted for an anthropic
model is rendered as Anthropic's error body.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes import gemini
from tests.fakes.anthropic import FakeAnthropic, RequestRejected
from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response, stream_events

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential."
)


OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def service_account_info(url: str, key: rsa.RSAPrivateKey, project: str) -> dict[str, Any]:
    """The service-account JSON of the fake at `url` whose account holds `key`."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": f"polyroute-test@{project}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{url}/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    }


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeVertex(FakeUpstream):
    def __init__(
        self,
        *,
        project: str = "fake-project-123",
        expires_in: int = 3600,
        key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        """`key`: the service account's RSA key (a fresh one by default)."""
        super().__init__()
        self.project = project
        self.expires_in = expires_in
        self._key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email = f"polyroute-test@{project}.iam.gserviceaccount.com"
        self.tokens: dict[str, float] = {}  # issued token -> expiry (Unix seconds)
        self.token_requests = 0
        self._counter = itertools.count(1)
        self._anthropic = FakeAnthropic()  # a renderer only: never started

    def reset(self) -> None:
        super().reset()
        self.token_requests = 0

    def service_account_info(self) -> dict[str, Any]:
        """A service-account JSON as the Cloud console issues it, its token_uri pointing here."""
        return service_account_info(self.url, self._key, self.project)

    def routes(self) -> list[web.RouteDef]:
        prefix = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{name}"
        return [web.post("/token", self._token), web.post(prefix, self.handler(self._dispatch))]

    # -- OAuth -----------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        problem = self._check_assertion(str(form.get("assertion") or ""))
        if problem:
            return _oauth_error("invalid_grant", problem)
        token = f"ya29.fake-access-token-{next(self._counter)}"
        self.tokens[token] = time.time() + self.expires_in
        return json_response({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _check_assertion(self, assertion: str) -> str | None:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header, claims = json.loads(_b64decode(header_b64)), json.loads(_b64decode(claims_b64))
            signature = _b64decode(signature_b64)
        except ValueError:
            return "Invalid JWT: malformed."
        if header.get("alg") != "RS256":
            return "Invalid JWT: alg must be RS256."
        try:
            self._key.public_key().verify(
                signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:  # noqa: BLE001 - cryptography's InvalidSignature
            return "Invalid JWT Signature."
        # google-auth sends Google's own token endpoint as the audience whatever token_uri says
        if claims.get("iss") != self.client_email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return "Invalid JWT: iss or aud does not match."
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return "Invalid JWT: the cloud-platform scope is missing."
        if not claims.get("iat") or claims.get("exp", 0) <= claims["iat"]:
            return (
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
            )
        return None

    # -- Vertex ----------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.tokens.get(token, 0) <= time.time():
            return gemini.error_response(401, UNAUTHENTICATED)
        if request.match_info["project"] != self.project:
            message = "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist)."
            return gemini.error_response(403, message)
        model, _, method = request.match_info["name"].partition(":")
        try:
            body = orjson.loads(rec.body) if rec.body else {}
        except orjson.JSONDecodeError:
            return gemini.error_response(400, "Invalid JSON payload received.")
        if request.match_info["publisher"] == "anthropic":
            return await self._anthropic_call(request, body, method, model)
        if method == "predict":
            return await self._predict(body)
        if method not in ("generateContent", "streamGenerateContent"):
            return gemini.error_response(404, f"Method {method} not found.")
        try:
            gemini.validate_generate_request(body)
        except gemini.GeminiInvalid as exc:
            return gemini.error_response(400, str(exc))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return await gemini.render_error(behaviour)
        if method == "generateContent":
            return json_response(gemini.render_response(behaviour, model), headers=behaviour.headers)
        frames = gemini.render_stream(behaviour, model)
        events = [b"data: " + orjson.dumps(f) + b"\r\n\r\n" for f in frames]
        error_event = b"data: " + orjson.dumps({"error": gemini.STREAM_ERROR}) + b"\r\n\r\n"
        return await stream_events(request, events, behaviour, error_event, headers=behaviour.headers)

    async def _predict(self, body: dict[str, Any]) -> web.Response:
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            return gemini.error_response(400, "instances must not be empty")
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return await gemini.render_error(behaviour)
        dimensions = int(
            (body.get("parameters") or {}).get("outputDimensionality") or gemini.DEFAULT_DIMENSIONS
        )
        predictions = [
            {
                "embeddings": {
                    "values": gemini.embedding_values(str(i.get("content")), dimensions),
                    "statistics": {"token_count": len(str(i.get("content")).split()), "truncated": False},
                }
            }
            for i in instances
        ]
        return json_response({"predictions": predictions, "metadata": {"billableCharacterCount": 10}})

    async def _anthropic_call(
        self, request: web.Request, body: dict[str, Any], method: str, model: str
    ) -> web.StreamResponse:
        if method not in ("rawPredict", "streamRawPredict"):
            return gemini.error_response(404, f"Method {method} not found.")
        if body.get("anthropic_version") != "vertex-2023-10-16":
            return self._anthropic.error_response(
                Error(400, message="anthropic_version: Input should be 'vertex-2023-10-16'")
            )
        if "model" in body:
            return self._anthropic.error_response(Error(400, message="model: Extra inputs are not permitted"))
        try:
            self._anthropic._validate_messages(body.get("messages"))
        except RequestRejected as exc:
            return self._anthropic.error_response(Error(exc.status, message=exc.message))
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return self._anthropic.error_response(behaviour)
        reply: Reply = behaviour
        body = {**body, "model": model}
        if method == "rawPredict":
            return json_response(self._anthropic.render_message(body, reply), headers=reply.headers)
        events = self._anthropic.render_stream(body, reply)
        error_event = b"event: error\ndata: " + orjson.dumps(OVERLOADED) + b"\n\n"
        return await stream_events(request, events, reply, error_event, headers=reply.headers)


def _oauth_error(error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status=400)
