"""The fastchat_worker provider's facts (its `ProviderSpec`), kept apart from the adapter's code: the
registry reads every provider's spec at start-up and imports an adapter only for the
deployments that use it (providers/registry.py)."""

from __future__ import annotations

from polyroute.protocol.framing import NulJSONDecoder
from polyroute.providers.spec import ProviderSpec

PROVIDER = "fastchat_worker"

# Reached through the controller's worker directory (protocol "fastchat"), not by prefix in
# configs. /worker_generate_stream answers NUL-delimited JSON objects.
SPEC = ProviderSpec(
    name=PROVIDER,
    label="FastChat model worker",
    api="FastChat worker protocol",
    key_optional=True,
    capabilities=frozenset({"chat", "embeddings"}),
    stream_decoder=NulJSONDecoder,
    worker_protocol="fastchat",
    notes="registered FastChat workers; reached through the controller",
)
