"""The yandexgpt provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.protocol.framing import JSONLinesDecoder
from polyroute.providers.spec import ProviderSpec

FOLDER_SETTING = "folder_id"

SPEC = ProviderSpec(
    name="yandexgpt",
    label="YandexGPT",
    key_env=("YANDEXGPT_API_KEY",),
    default_api_base="https://llm.api.cloud.yandex.net",
    capabilities=frozenset({"chat", "tools", "reasoning"}),
    stream_decoder=JSONLinesDecoder,
    setting_prefixes=(FOLDER_SETTING,),
    setting_env=((FOLDER_SETTING, ("YANDEXGPT_FOLDER_ID",)),),
    fastchat_api_types=("yandexgpt",),
    docs="docs/providers/yandexgpt.md",
    api="Yandex Foundation Models v1 completion",
    notes="folder from litellm_params.folder_id or YANDEXGPT_FOLDER_ID",
)
