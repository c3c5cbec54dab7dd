"""The YandexGPT adapter: Yandex Cloud Foundation Models' text generation API (v1 completion).

One URL for both paths, `{base}/foundationModels/v1/completion`; streaming is
`completionOptions.stream: true` and answers in JSON lines. FastChat's endpoint files give the
whole completion URL as `api_base`; it is used as it is. The key is an API key (`Api-Key <key>`,
FastChat's way) or an IAM token (`Bearer`, recognised by its `t1.` prefix); the folder goes in
the model URI and in `x-folder-id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from polyroute.auth.cloud_settings import check_operator_settings
from polyroute.errors import GatewayError
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.yandexgpt.errors import map_error
from polyroute.providers.yandexgpt.request import SUPPORTED_CHAT_PARAMS, build_body
from polyroute.providers.yandexgpt.response import to_chat_completion
from polyroute.providers.yandexgpt.spec import FOLDER_SETTING, SPEC
from polyroute.providers.yandexgpt.stream import YandexStreamTranslator

COMPLETION_PATH = "/foundationModels/v1/completion"
IAM_TOKEN_PREFIX = "t1."


class YandexGPTAdapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def check_call(self, call: ProviderCall) -> None:
        check_operator_settings(call.extras)  # the folder id is a header value and part of a URI

    def url(self, call: ProviderCall) -> str:
        base = (call.api_base or self.default_api_base or "").rstrip("/")
        return base if base.endswith(COMPLETION_PATH) else base + COMPLETION_PATH

    def headers(self, call: ProviderCall) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if call.api_key:
            key = call.api_key.reveal()
            headers["authorization"] = ("Bearer " if key.startswith(IAM_TOKEN_PREFIX) else "Api-Key ") + key
        folder = folder_of(call)
        if folder:
            headers["x-folder-id"] = folder
        headers.update(call.extra_headers)
        return headers

    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        request = {**call.defaults, **body} if call.defaults else body
        wire = build_body(call.model, folder_of(call), request, stream)
        return WireRequest(self.url(call), self.headers(call), orjson.dumps(wire))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        return to_chat_completion(data, call.model)

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return YandexStreamTranslator(call.model)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_error(status, body, headers)


def folder_of(call: ProviderCall) -> str | None:
    folder = call.extras.get(FOLDER_SETTING)
    return str(folder) if folder else None
