"""Constants and helpers shared by the client-credential end-to-end tests (fixtures: conftest.py).

Four gateways over the same model list, where each model's configurable_clientside_auth_params
is its own opt-in: `gw` (127.0.0.1 allowlisted so the fakes are reachable as client-chosen
upstreams), `gw_strict` (no allowlist: every loopback and private address refused), `gw_off`
(user_config switched off) and `gw_open` (allow_client_side_credentials: key, base and version
for every model). Upstreams: the operator's fake (answers only
the operator's key), the client's own fakes (answer only the client's keys), a fake Anthropic,
and the canary, which only counts connections. Every response a test sees goes through `record`,
and every log line of the gateways is captured, so one test can grep them all for every key.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.gateway import GatewayServer

MASTER = "sk-master-clientcreds-5f1e2d3c4b5a6978"
OPERATOR_KEY = "sk-operator-provider-key-a1b2c3d4e5f60718"
OPERATOR_FIREWORKS_KEY = "fw-operator-key-0f1e2d3c4b5a69788796"
CLIENT_KEY = "sk-client-own-key-9a8b7c6d5e4f30211203"
CLIENT_AZURE_KEY = "client-azure-key-3141592653589793238462"
CLIENT_ANTHROPIC_KEY = "sk-ant-client-key-2718281828459045235360"
CLIENT_AWS_SECRET = "client-aws-secret-1618033988749894848204"
CLIENT_HEADER_TOKEN = "client-header-token-1414213562373095048801"
WRONG_CLIENT_KEY = "sk-client-wrong-key-5772156649015328606065"
CLIENT_SECRETS = (
    CLIENT_KEY,
    CLIENT_AZURE_KEY,
    CLIENT_ANTHROPIC_KEY,
    CLIENT_AWS_SECRET,
    CLIENT_HEADER_TOKEN,
    WRONG_CLIENT_KEY,
)
ALL_KEYS = (MASTER, OPERATOR_KEY, OPERATOR_FIREWORKS_KEY, *CLIENT_SECRETS)
MESSAGES = [{"role": "user", "content": "this is a test request, write a short poem"}]
LOOPBACK_V1 = r"^http://127\.0\.0\.1:\d+/v1$"

# Everything a client was shown, and every log line the gateways wrote (see `capture_logs`).
TRANSCRIPT: list[str] = []
LOG_LINES: list[str] = []


def model_list(operator_url: str) -> list[dict[str, Any]]:
    base = operator_url + "/v1"

    def entry(name: str, configurable: Any = None, **params: Any) -> dict[str, Any]:
        litellm = {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": OPERATOR_KEY, **params}
        if configurable is not None:
            litellm["configurable_clientside_auth_params"] = configurable
        return {"model_name": name, "litellm_params": litellm}

    return [
        # The seed's per-request example: the model lets clients bring key, base and provider params.
        entry("gpt-3.5-turbo", ["api_key", {"api_base": LOOPBACK_V1}, "api_version", "vertex_location"]),
        entry("open-base", ["api_base", "api_key"]),
        entry("key-only", ["api_key"]),
        entry("locked"),
        entry("optin", [{"api_base": LOOPBACK_V1}], allow_operator_key_with_client_base=True),
        entry(
            "optin-loose",
            [{"api_base": r"^http://127\.0\.0\.1.*/v1$"}],
            allow_operator_key_with_client_base=True,
        ),
        entry("pair", ["api_key"]),
        entry("pair", ["api_key"], model="openai/gpt-4o"),
        entry("with-fallback", ["api_key"]),
        {
            "model_name": "fireworks_ai/*",
            "litellm_params": {
                "model": "fireworks_ai/*",
                "api_key": OPERATOR_FIREWORKS_KEY,
                "configurable_clientside_auth_params": [{"api_base": LOOPBACK_V1}, "api_key"],
            },
        },
    ]


def gateway_config(operator_url: str, general: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_list": model_list(operator_url),
        "general_settings": {"master_key": MASTER, **general},
        "router_settings": {"num_retries": 0, "fallbacks": [{"with-fallback": ["locked"]}]},
    }


# ---- calling the gateway -------------------------------------------------------------------------


def record_response(response: Any) -> None:
    TRANSCRIPT.append(f"{response.status_code} {dict(response.headers)} {response.text}")


def chat(server: GatewayServer, model: str, extra_body: dict[str, Any], **kwargs: Any) -> Any:
    """A chat completion through the openai SDK; the raw response goes to the transcript."""
    raw = server.client().chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, extra_body=extra_body, **kwargs
    )
    TRANSCRIPT.append(f"{raw.status_code} {dict(raw.headers)} {raw.text if not kwargs.get('stream') else ''}")
    return raw


def refused(
    server: GatewayServer, model: str, extra_body: dict[str, Any], status: int, param: str, **kwargs: Any
) -> dict[str, Any]:
    """Asserts the request is refused with `status` naming `param`; returns the error object."""
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(
            model=model, messages=MESSAGES, extra_body=extra_body, **kwargs
        )
    error = caught.value
    record_response(error.response)
    assert error.status_code == status, error.response.text
    body = error.response.json()["error"]
    assert body["param"] == param, body
    return body


def stream_text(server: GatewayServer, model: str, extra_body: dict[str, Any]) -> str:
    chunks = server.client().chat.completions.create(
        model=model, messages=MESSAGES, extra_body=extra_body, stream=True
    )
    parts = []
    for chunk in chunks:
        TRANSCRIPT.append(chunk.model_dump_json())
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts)
