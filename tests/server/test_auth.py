"""Authentication on every route but liveness; loopback-only without a master key."""

from __future__ import annotations

import httpx
import openai
import pytest

from polyroute.auth.master_key import check_master_key
from polyroute.errors import AuthenticationError
from polyroute.secrets import Secret

MESSAGES = [{"role": "user", "content": "hi"}]


def test_missing_and_wrong_keys_are_401(gateway):
    with pytest.raises(openai.AuthenticationError):
        gateway.client(api_key="sk-wrong-key").chat.completions.create(model="mock-gpt", messages=MESSAGES)
    response = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "mock-gpt", "messages": MESSAGES}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


@pytest.mark.parametrize("path", ["/v1/models", "/health/readiness", "/v1/models/mock-gpt"])
def test_read_routes_need_the_key_too(gateway, path):
    assert httpx.get(gateway.url + path).status_code == 401
    assert (
        httpx.get(gateway.url + path, headers={"authorization": f"Bearer {gateway.master_key}"}).status_code
        == 200
    )


def test_liveness_is_public(gateway):
    for path in ("/health/liveliness", "/health/liveness"):
        response = httpx.get(gateway.url + path)
        assert response.status_code == 200


@pytest.mark.parametrize("header", ["x-api-key", "api-key"])
def test_anthropic_and_azure_style_key_headers(gateway, header):
    response = httpx.get(gateway.url + "/v1/models", headers={header: gateway.master_key})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["{key}", "Bearer {key}"])
def test_litellm_key_header_wins_over_authorization(gateway, value):
    """LiteLLM clients send their gateway key in x-litellm-api-key when Authorization carries
    something else (another service's token): that header is the one checked."""
    client = gateway.client(
        api_key="sk-not-for-the-gateway",
        default_headers={"x-litellm-api-key": value.format(key=gateway.master_key)},
    )
    assert client.chat.completions.create(model="mock-gpt", messages=MESSAGES).choices
    wrong = httpx.get(
        gateway.url + "/v1/models",
        headers={"x-litellm-api-key": "sk-wrong", "authorization": f"Bearer {gateway.master_key}"},
    )
    assert wrong.status_code == 401


def test_without_master_key_only_loopback_is_served():
    check_master_key(None, None, "127.0.0.1", open_access=False)
    check_master_key(None, None, "::1", open_access=False)
    with pytest.raises(AuthenticationError):
        check_master_key(None, None, "10.1.2.3", open_access=False)
    check_master_key(None, None, "10.1.2.3", open_access=True)
    with pytest.raises(AuthenticationError):
        check_master_key(Secret("k" * 20), "k" * 19, "127.0.0.1", open_access=True)
