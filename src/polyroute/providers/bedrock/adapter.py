"""The AWS Bedrock runtime adapter: the Converse and ConverseStream APIs.

Chat goes to `{endpoint}/model/{modelId}/converse` (streaming: `/converse-stream`, answered in
AWS's binary event-stream framing), signed with SigV4 (`signing.py`). The endpoint is
`https://bedrock-runtime.{region}.amazonaws.com` unless `api_base` or
`aws_bedrock_runtime_endpoint` names another (a VPC endpoint, a proxy). Model ids are whatever
Bedrock takes: a foundation model id (`anthropic.claude-3-5-haiku-20241022-v1:0`), an inference
profile (`us.anthropic...`) or an ARN; LiteLLM's route prefix `converse/` is accepted and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from polyroute.auth.cloud_settings import check_operator_settings, refuse_ambient_at_client_url
from polyroute.errors import GatewayError, UnsupportedParamsError
from polyroute.protocol.framing import MAX_EVENT_BYTES, StreamDecoder
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.bedrock.errors import map_error
from polyroute.providers.bedrock.eventstream import EventStreamDecoder
from polyroute.providers.bedrock.request import SUPPORTED_CHAT_PARAMS, build_body
from polyroute.providers.bedrock.response import to_chat_completion
from polyroute.providers.bedrock.signing import SignedWire, Signers, SigningTransport
from polyroute.providers.bedrock.spec import SPEC
from polyroute.providers.bedrock.stream import BedrockStreamTranslator

#: LiteLLM's assume-role settings: refused rather than ignored (the call would go out unsigned by
#: the role the operator meant)
UNSUPPORTED_SETTINGS = ("aws_role_name", "aws_web_identity_token", "aws_sts_endpoint")


class BedrockAdapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def __init__(self) -> None:
        self._signers = Signers()

    def check_call(self, call: ProviderCall) -> None:
        """Config-time checks: botocore installed, a region known."""
        try:
            import botocore  # noqa: F401
        except ImportError:
            raise ValueError("bedrock needs botocore: install polyroute with the 'bedrock' extra") from None
        check_operator_settings(call.extras)  # values that become host names and paths
        for setting in UNSUPPORTED_SETTINGS:
            if call.extras.get(setting):
                raise ValueError(
                    f"bedrock: {setting} is not supported (use aws_profile_name with a role_arn profile)"
                )
        if not (call.api_base or call.extras.get("aws_bedrock_runtime_endpoint") or region_of(call)):
            raise ValueError("bedrock needs a region: set aws_region_name or AWS_REGION_NAME / AWS_REGION")

    # -- addressing ---------------------------------------------------------------------------
    def endpoint(self, call: ProviderCall) -> str:
        base = call.api_base or call.extras.get("aws_bedrock_runtime_endpoint")
        if base:
            return str(base).rstrip("/")
        return str(self.default_api_base).format(region=region_of(call))

    def model_url(self, call: ProviderCall, action: str) -> str:
        model = call.model.removeprefix("converse/")
        return f"{self.endpoint(call)}/model/{quote(model, safe='')}/{action}"

    def wire(self, call: ProviderCall, url: str, body: dict[str, Any]) -> SignedWire:
        for setting in UNSUPPORTED_SETTINGS:  # a client's own (the operator's fail at start-up)
            if call.extras.get(setting):
                raise UnsupportedParamsError(f"bedrock: {setting} is not supported", param=setting)
        refuse_ambient_at_client_url(self.name, call.extras, call.client_url_param)
        headers = {"content-type": "application/json", "accept": "application/json"}
        if call.extra_headers:
            headers.update(call.extra_headers)
        signer = self._signers.get(region_of(call) or "us-east-1", _static_keys(call), _profile(call))
        return SignedWire(url, headers, orjson.dumps(body), signer=signer)

    def transport(self, http: Any = None) -> Any:
        return SigningTransport(http)

    def stream_decoder(self, call: ProviderCall, max_event_bytes: int = MAX_EVENT_BYTES) -> StreamDecoder:
        return EventStreamDecoder(max_event_bytes)

    # -- chat ---------------------------------------------------------------------------------
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        if call.defaults:
            body = {**call.defaults, **body}
        action = "converse-stream" if stream else "converse"
        return self.wire(call, self.model_url(call, action), build_body(body))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        return to_chat_completion(data, call.model)

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return BedrockStreamTranslator(call.model)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_error(status, body, headers)


def region_of(call: ProviderCall) -> str | None:
    region = call.extras.get("aws_region_name")
    return str(region) if region else None


def _static_keys(call: ProviderCall) -> tuple[str, str, str | None] | None:
    key_id = call.extras.get("aws_access_key_id")
    secret = call.extras.get("aws_secret_access_key")
    if not key_id or not secret:
        return None
    token = call.extras.get("aws_session_token")
    return str(key_id), str(secret), str(token) if token else None


def _profile(call: ProviderCall) -> str | None:
    profile = call.extras.get("aws_profile_name")
    return str(profile) if profile else None
