"""Google Vertex AI: Gemini and Anthropic models, and text embeddings, on a GCP project.

One adapter, three upstream APIs chosen by the model id (`vertex_ai/<model>`):
  * `claude-*`: Anthropic's Messages API as Vertex serves it,
    `.../publishers/anthropic/models/{model}:rawPredict` (streaming `:streamRawPredict`, SSE):
    the body is Anthropic's (the anthropic translation) without `model` and with
    `anthropic_version: vertex-2023-10-16`;
  * any other chat model: Gemini's `generateContent` (streaming `streamGenerateContent?alt=sse`)
    at `.../publishers/google/models/{model}` (the gemini translation);
  * embeddings: `.../publishers/google/models/{model}:predict` (`embeddings.py`).
Every URL is `{base}/v1/projects/{project}/locations/{location}/publishers/...` where the base
is `https://{location}-aiplatform.googleapis.com` (`https://aiplatform.googleapis.com` for the
`global` location) unless `api_base` names another. Auth is an OAuth bearer token from
google-auth (`auth.py`), added when the request is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from polyroute.auth.cloud_settings import check_operator_settings, refuse_ambient_at_client_url
from polyroute.errors import GatewayError
from polyroute.providers.anthropic.errors import map_anthropic_error
from polyroute.providers.anthropic.request import SUPPORTED_CHAT_PARAMS as ANTHROPIC_PARAMS
from polyroute.providers.anthropic.request import build_body as anthropic_body
from polyroute.providers.anthropic.response import to_openai_response
from polyroute.providers.anthropic.stream import AnthropicStreamTranslator
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.gemini.adapter import GEMINI_CHAT_PARAMS
from polyroute.providers.gemini.errors import error_from_status
from polyroute.providers.gemini.errors import map_error as map_google_error
from polyroute.providers.gemini.request import to_gemini_body
from polyroute.providers.gemini.response import to_chat_completion
from polyroute.providers.gemini.stream import GeminiStreamTranslator
from polyroute.providers.vertex.auth import BearerTransport, BearerWire, TokenSources
from polyroute.providers.vertex.embeddings import to_openai_embeddings, to_predict_body
from polyroute.providers.vertex.spec import SPEC

ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_LOCATION = "us-central1"


class VertexAdapter(ProviderAdapter):
    spec = SPEC

    def __init__(self) -> None:
        self._tokens = TokenSources()

    def check_call(self, call: ProviderCall) -> None:
        try:
            import google.auth  # noqa: F401
        except ImportError:
            raise ValueError(
                "vertex_ai needs google-auth: install polyroute with the 'vertex' extra"
            ) from None
        check_operator_settings(call.extras)  # values that become host names and paths
        if not project_of(call):
            raise ValueError("vertex_ai needs a project: set vertex_project or GCP_PROJECT_ID")

    def chat_params(self, call: ProviderCall) -> frozenset[str]:
        """What the model's API honours: Anthropic's params for Claude, Gemini's otherwise."""
        return ANTHROPIC_PARAMS if is_anthropic(call) else GEMINI_CHAT_PARAMS

    # -- addressing ---------------------------------------------------------------------------
    def model_url(self, call: ProviderCall, publisher: str, method: str) -> str:
        location = location_of(call)
        base = call.api_base or (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else str(self.default_api_base).format(location=location)
        )
        return (
            f"{base.rstrip('/')}/v1/projects/{project_of(call)}/locations/{location}"
            # Quoted: a wildcard route puts the client's text here, and it must stay one segment.
            f"/publishers/{publisher}/models/{quote(call.model, safe='@')}:{method}"
        )

    def wire(self, call: ProviderCall, url: str, body: dict[str, Any]) -> BearerWire:
        refuse_ambient_at_client_url(self.name, call.extras, call.client_url_param)
        headers = {"content-type": "application/json"}
        if call.extra_headers:
            headers.update(call.extra_headers)
        credentials = call.extras.get("vertex_credentials")
        tokens = self._tokens.get(str(credentials) if credentials else None)
        return BearerWire(url, headers, orjson.dumps(body), tokens=tokens)

    def transport(self, http: Any = None) -> Any:
        return BearerTransport(http)

    # -- chat ---------------------------------------------------------------------------------
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        if is_anthropic(call):
            payload = anthropic_body(call, body, stream)
            payload.pop("model", None)  # the URL names it
            payload["anthropic_version"] = str(
                call.extras.get("vertex_anthropic_version") or ANTHROPIC_VERSION
            )
            method = "streamRawPredict" if stream else "rawPredict"
            return self.wire(call, self.model_url(call, "anthropic", method), payload)
        if call.defaults:
            body = {**call.defaults, **body}
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return self.wire(call, self.model_url(call, "google", method), to_gemini_body(body))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        if is_anthropic(call):
            return to_openai_response(data, call.model)
        if isinstance(data.get("error"), dict):
            raise error_from_status(data["error"])
        return to_chat_completion(data, call.model)

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        if is_anthropic(call):
            return AnthropicStreamTranslator(call.model)
        return GeminiStreamTranslator(call.model)

    # -- embeddings ---------------------------------------------------------------------------
    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        return self.wire(call, self.model_url(call, "google", "predict"), to_predict_body(body))

    def embeddings_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return to_openai_embeddings(data, call.model)

    # -- errors -------------------------------------------------------------------------------
    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """Vertex's own errors (quota, auth, a bad project) are Google's `{"error": {"code",
        "status", ...}}` (sometimes inside a one-element list); a Claude model's own refusals
        come in Anthropic's `{"type": "error", "error": {"type", ...}}`."""
        error = _google_error(body)
        if error is None:
            mapped = map_anthropic_error(status, body, headers)
        else:
            mapped = map_google_error(status, orjson.dumps({"error": error}), headers)
        mapped.provider = self.name
        return mapped


def is_anthropic(call: ProviderCall) -> bool:
    return call.model.startswith("claude")


def project_of(call: ProviderCall) -> str | None:
    project = call.extras.get("vertex_project") or call.extras.get("vertex_ai_project")
    return str(project) if project else None


def location_of(call: ProviderCall) -> str:
    location = call.extras.get("vertex_location") or call.extras.get("vertex_ai_location")
    return str(location) if location else DEFAULT_LOCATION


def _google_error(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and "status" in error and "type" not in data:
        return error
    return None
