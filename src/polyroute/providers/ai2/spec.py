"""The ai2 provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.protocol.framing import JSONLinesDecoder
from polyroute.providers.spec import ProviderSpec

MODEL_ID_SETTING = "model_id"

SPEC = ProviderSpec(
    name="ai2",
    label="AI2 (InferD)",
    key_env=("AI2_API_KEY",),
    default_api_base="https://inferd.allen.ai/api/v1/infer",
    capabilities=frozenset({"chat"}),
    stream_decoder=JSONLinesDecoder,
    setting_prefixes=(MODEL_ID_SETTING,),
    fastchat_api_types=("ai2",),
    docs="docs/providers/ai2.md",
    api="AI2 InferD infer",
    notes="InferD model id from litellm_params.model_id",
)
