"""A gateway with its controller, fake FastChat workers and a fake provider, for the serving-plane tests."""

from __future__ import annotations

from typing import Any

import httpx

MASTER = "sk-serving-plane-master-0123456789"
TOKEN_ALL = "wt-all-models-0123456789abcdef"
TOKEN_VICUNA = "wt-vicuna-only-0123456789abcdef"
PROVIDER_KEY = "sk-fake-openai-key-0123456789abcdef"
LOOPBACK_WORKERS = r"http://127\.0\.0\.1:\d+"


def serving_config(provider_url: str | None = None, **controller: Any) -> dict[str, Any]:
    model_list = [{"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}}]
    if provider_url:
        model_list.append(
            {
                "model_name": "mixed",
                "litellm_params": {
                    "model": "openai/gpt-backup",
                    "api_base": provider_url + "/v1",
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "provider-backup"},
            }
        )
    return {
        "model_list": model_list,
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 2, "cooldown_time": 30},
        "controller_settings": {
            "worker_tokens": [{"token": TOKEN_ALL}, {"token": TOKEN_VICUNA, "models": ["vicuna"]}],
            "allowed_worker_addresses": [LOOPBACK_WORKERS],
            **controller,
        },
    }


def with_token(url: str, token: str) -> str:
    """The controller URL as an unmodified FastChat worker is given it: credentials in the URL."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://worker:{token}@{rest}"


def controller_post(
    url: str, path: str, body: Any = None, token: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + path, json=body, headers=headers, timeout=10, **kwargs)
