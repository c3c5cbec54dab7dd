"""Azure OpenAI: OpenAI's wire format at `{endpoint}/openai/deployments/{deployment}/...`.

The deployment name is the model id after `azure/`; the key goes in the `api-key` header and
every call carries `?api-version=`.
"""

from __future__ import annotations

from polyroute.errors import InvalidRequestError
from polyroute.providers.base import ProviderCall
from polyroute.providers.openai_compat import OpenAICompatibleAdapter
from polyroute.providers.spec import ProviderSpec

DEFAULT_API_VERSION = "2024-10-21"  # the GA data-plane version current when this was written


SPEC = ProviderSpec(
    name="azure",
    label="Azure OpenAI",
    api="OpenAI at /openai/deployments/{name}, api-key header",
    aliases=("azure_openai",),
    key_env=("AZURE_OPENAI_KEY", "AZURE_API_KEY"),  # FastChat's, then LiteLLM's
    base_env=("AZURE_OPENAI_ENDPOINT", "AZURE_API_BASE"),
    version_env=("OPENAI_API_VERSION", "AZURE_API_VERSION"),
    capabilities=frozenset({"chat", "completions", "embeddings", "tools", "vision", "reasoning"}),
    passthrough_stream=True,
    otel_name="azure.ai.openai",
    notes="base URL is the resource endpoint; the deployment name follows azure/",
)


class AzureOpenAIAdapter(OpenAICompatibleAdapter):
    def __init__(self) -> None:
        super().__init__(SPEC)

    def headers(self, call: ProviderCall) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if call.api_key:
            headers["api-key"] = call.api_key.reveal()
        if call.extra_headers:
            headers.update(call.extra_headers)
        return headers

    def endpoint_url(self, call: ProviderCall, path: str) -> str:
        if not call.api_base:
            raise InvalidRequestError(
                "azure deployment needs api_base (AZURE_OPENAI_ENDPOINT)", param="api_base"
            )
        base = call.api_base.rstrip("/")
        # Accept an endpoint given with the /openai suffix as well as the bare resource URL.
        if base.endswith("/openai"):
            base = base[: -len("/openai")]
        version = call.api_version or DEFAULT_API_VERSION
        return f"{base}/openai/deployments/{call.model}/{path}?api-version={version}"


def specs() -> list[ProviderSpec]:
    return [SPEC]


def adapters() -> list[AzureOpenAIAdapter]:
    return [AzureOpenAIAdapter()]
