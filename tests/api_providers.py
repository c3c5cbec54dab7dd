"""The gateway entries for the providers reached through their own APIs (issue 15's "api" part:
Cohere, Mistral, YandexGPT, ...): one model per provider, pointed at its fake. The shared
gateway (tests/conftest.py) adds these to its model list and `MATRIX_MODELS`, so the parity
matrix of tests/server/test_providers_e2e.py runs over them as over the others."""

from __future__ import annotations

from typing import Any

COHERE_KEY = "co-fake-cohere-key-5b1e0c9d7a"
YANDEX_KEY = "AQVN-fake-yandex-api-key-3c8e1f"
YANDEX_FOLDER = "b1gfakefolder0001"
MISTRAL_KEY = "mistral-fake-key-7d2b9e41c0"
AI2_KEY = "ai2-fake-inferd-key-55e0a1"
REKA_KEY = "reka-fake-key-0b7c3d9a12"
SECRETS = (COHERE_KEY, YANDEX_KEY, MISTRAL_KEY, AI2_KEY, REKA_KEY)

#: provider -> (model name in the gateway, fixture of its fake)
MODELS = {
    "cohere": ("cohere-command", "fake_cohere"),
    "yandexgpt": ("yandexgpt", "fake_yandexgpt"),
    "mistral": ("mistral-large", "fake_mistral"),
    "ai2": ("tulu", "fake_ai2"),
    "reka": ("reka-core", "fake_reka"),
    "nvidia_nim": ("nim-llama", "fake_openai"),
}
#: providers whose API takes no images (the parity matrix's image test does not apply)
TEXT_ONLY = frozenset({"yandexgpt", "ai2"})
#: providers without tool calling (the parity matrix's tool tests do not apply)
NO_TOOLS = frozenset({"ai2"})
FAKES = tuple(fixture for _, fixture in MODELS.values())


#: NIM is OpenAI's wire format: its deployments use the OpenAI fake (the gateway's own key)
NIM_KEY = "sk-fake-openai-key-0123456789abcdef"


def model_list(urls: dict[str, str]) -> list[dict[str, Any]]:
    """Config entries; `urls` maps each fake's fixture name to its base URL."""
    return [
        {
            "model_name": "nim-llama",
            "litellm_params": {
                "model": "nvidia_nim/meta/llama3-70b-instruct",
                "api_base": urls["fake_openai"] + "/v1",
                "api_key": NIM_KEY,
            },
        },
        {
            "model_name": "nemotron",
            "litellm_params": {
                "model": "nvidia_nim/nvidia/nemotron-4-340b-instruct",
                "api_base": urls["fake_openai"] + "/v1",
                "api_key": NIM_KEY,
            },
        },
        {
            "model_name": "reka-core",
            "litellm_params": {
                "model": "reka/reka-core",
                "api_base": urls["fake_reka"] + "/v1",
                "api_key": REKA_KEY,
            },
        },
        {
            "model_name": "tulu",
            "litellm_params": {
                "model": "ai2/tulu2-70b",
                "api_base": urls["fake_ai2"] + "/api/v1/infer",
                "api_key": AI2_KEY,
                "model_id": "mod_01hhgcga70c91402r9ssyxekan",
            },
        },
        {
            "model_name": "mistral-large",
            "litellm_params": {
                "model": "mistral/mistral-large-latest",
                "api_base": urls["fake_mistral"] + "/v1",
                "api_key": MISTRAL_KEY,
            },
        },
        {
            "model_name": "mistral-embed",
            "litellm_params": {
                "model": "mistral/mistral-embed",
                "api_base": urls["fake_mistral"] + "/v1",
                "api_key": MISTRAL_KEY,
            },
        },
        {
            "model_name": "yandexgpt",
            "litellm_params": {
                "model": "yandexgpt/yandexgpt/latest",
                "api_base": urls["fake_yandexgpt"],
                "api_key": YANDEX_KEY,
                "folder_id": YANDEX_FOLDER,
            },
        },
        {
            "model_name": "cohere-command",
            "litellm_params": {
                "model": "cohere/command-a-03-2025",
                "api_base": urls["fake_cohere"],
                "api_key": COHERE_KEY,
            },
        },
        {
            "model_name": "cohere-embed",
            "litellm_params": {
                "model": "cohere/embed-v4.0",
                "api_base": urls["fake_cohere"],
                "api_key": COHERE_KEY,
            },
        },
        {
            "model_name": "cohere-rerank",
            "litellm_params": {
                "model": "cohere/rerank-v3.5",
                "api_base": urls["fake_cohere"],
                "api_key": COHERE_KEY,
            },
        },
    ]
