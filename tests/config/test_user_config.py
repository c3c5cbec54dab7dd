"""user_config: validated like a config file, bounded, isolated, and cached without secrets."""

from __future__ import annotations

import copy

import orjson
import pytest

from polyroute.auth.client_credentials import ClientCredentialSettings
from polyroute.config.user_config import (
    PLACEHOLDER,
    RouterCache,
    attach_secrets,
    build_user_router,
    split_user_config,
)
from polyroute.errors import InvalidRequestError, PayloadTooLargeError
from tests.secret_walk import holds_any

AZURE_KEY = "azure-client-key-0123456789abcdef"
OPENAI_KEY = "sk-client-openai-abcdef0123456789"
HEADER_SECRET = "Bearer client-header-token-42424242"
AWS_SECRET = "client-aws-secret-key-777777777"
SETTINGS = ClientCredentialSettings()

# The seed's request shape (LiteLLM docs), with values a test can reach.
SEED = {
    "model_list": [
        {
            "model_name": "user-azure-instance",
            "litellm_params": {
                "model": "azure/chatgpt-v-2",
                "api_key": AZURE_KEY,
                "api_version": "2024-10-21",
                "api_base": "https://my-resource.openai.azure.example",
                "timeout": 10,
            },
            "tpm": 240000,
            "rpm": 1800,
        },
        {
            "model_name": "user-openai-instance",
            "litellm_params": {
                "model": "gpt-3.5-turbo",
                "api_key": OPENAI_KEY,
                "timeout": 10,
                "extra_headers": {"x-proxy-auth": HEADER_SECRET},
                "aws_secret_access_key": AWS_SECRET,
            },
            "tpm": 240000,
            "rpm": 1800,
        },
    ],
    "num_retries": 2,
    "allowed_fails": 3,
    "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
}
SECRETS = (AZURE_KEY, OPENAI_KEY, HEADER_SECRET, AWS_SECRET)


def seed(**changes):
    config = copy.deepcopy(SEED)
    config.update(changes)
    return config


def test_the_seed_shape_builds_a_router_with_its_settings_and_no_secret():
    request = split_user_config(seed(), SETTINGS)
    shape = orjson.dumps(request.shape).decode()
    assert not [s for s in SECRETS if s in shape] and PLACEHOLDER in shape
    router = build_user_router(request, drop_params=False)
    assert router.settings.num_retries == 2 and router.settings.allowed_fails == 3
    assert router.settings.fallbacks == {"user-azure-instance": ["user-openai-instance"]}
    [azure] = router.resolve("user-azure-instance")
    [openai] = router.resolve("user-openai-instance")
    assert (azure.provider, azure.call.model, azure.rpm, azure.tpm, azure.timeout) == (
        "azure",
        "chatgpt-v-2",
        1800,
        240000,
        10,
    )
    assert azure.call.api_base == "https://my-resource.openai.azure.example"
    assert azure.call.client_url_param == "user_config.model_list[0].litellm_params.api_base"
    assert openai.provider == "openai" and openai.call.api_base is None  # the provider's default
    assert holds_any(router, SECRETS) == []
    # Per attempt, this request's secrets are attached to a copy.
    used = attach_secrets(openai, request.secrets).call
    assert used.api_key.reveal() == OPENAI_KEY
    assert used.extra_headers == {"x-proxy-auth": HEADER_SECRET}
    assert used.extras["aws_secret_access_key"] == AWS_SECRET
    assert attach_secrets(azure, request.secrets).call.api_key.reveal() == AZURE_KEY
    assert openai.call.api_key is None and holds_any(router, SECRETS) == []


def test_the_cache_shares_a_router_only_for_the_same_config_secrets_and_caller():
    cache = RouterCache(limit=3)
    first = split_user_config(seed(), SETTINGS)
    again = split_user_config(seed(), SETTINGS)
    other_key = seed()
    other_key["model_list"][0]["litellm_params"]["api_key"] = "azure-another-client-key-999999"
    other = split_user_config(other_key, SETTINGS)
    assert first.shape_digest == other.shape_digest  # the same shape: secrets are not part of it
    router = cache.user_router(first, "master", False)
    assert cache.user_router(again, "master", False) is router
    assert cache.user_router(other, "master", False) is not router  # another key, another router
    assert cache.user_router(first, "team-b", False) is not router  # another caller, too
    assert len(cache) == 3
    assert len({id(r.state) for r in cache.routers()}) == 3  # each has its own state
    cache.user_router(split_user_config(seed(num_retries=1), SETTINGS), "master", False)
    assert len(cache) == 3  # bounded: the least recently used went
    assert all(holds_any(r, SECRETS + ("azure-another-client-key-999999",)) == [] for r in cache.routers())
    # The cache keys are digests, never the values.
    assert not any(s in key for key in cache._routers for s in SECRETS)


def test_equivalent_base_urls_are_one_shape():
    a = seed()
    b = seed()
    b["model_list"][0]["litellm_params"]["api_base"] = "HTTPS://My-Resource.openai.azure.example:443/"
    assert split_user_config(a, SETTINGS).shape_digest == split_user_config(b, SETTINGS).shape_digest


@pytest.mark.parametrize(
    ("mutate", "param"),
    [
        (lambda c: c.update(redis_host="10.0.0.5"), "user_config.redis_host"),
        (lambda c: c.update(retry_budget_ratio=100), "user_config.retry_budget_ratio"),
        (lambda c: c.update(general_settings={"master_key": "x"}), "user_config.general_settings"),
        (lambda c: c.update(model_list=[]), "user_config.model_list"),
        (lambda c: c.update(model_list="x"), "user_config.model_list"),
        (lambda c: c["model_list"].append("x"), "user_config.model_list[2]"),
        (lambda c: c["model_list"][0].pop("litellm_params"), "user_config.model_list[0].litellm_params"),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(api_key="os.environ/OPENAI_API_KEY"),
            "user_config.model_list[0].litellm_params.api_key",
        ),
        (
            lambda c: c["model_list"][1]["litellm_params"].update(api_base="os.environ/AZURE_API_BASE"),
            "user_config.model_list[1].litellm_params.api_base",
        ),
        (
            lambda c: c["model_list"][0].update(model_info={"note": " os.environ/SECRET"}),
            "user_config.model_list[0].model_info.note",
        ),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(api_base="http://evil@127.0.0.1/v1"),
            "user_config.model_list[0].litellm_params.api_base",
        ),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(base_url="https://b.example"),
            "user_config.model_list[0].litellm_params.base_url",
        ),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(api_key="key\nX-Injected: 1"),
            "user_config.model_list[0].litellm_params.api_key",
        ),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(extra_headers={"Host": "internal"}),
            "user_config.model_list[0].litellm_params.extra_headers",
        ),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(extra_headers={"x-a": "b\r\nc: d"}),
            "user_config.model_list[0].litellm_params.extra_headers.x-a",
        ),
    ],
)
def test_bad_configs_are_refused_naming_the_field(mutate, param):
    config = seed()
    mutate(config)
    with pytest.raises(InvalidRequestError) as caught:
        split_user_config(config, SETTINGS)
    assert caught.value.status == 400 and caught.value.param == param


@pytest.mark.parametrize(
    ("mutate", "param"),
    [
        (
            lambda c: c["model_list"][0]["litellm_params"].pop("model"),
            "user_config.model_list[0].litellm_params.model",
        ),
        (lambda c: c["model_list"][0].update(rpm=-1), "user_config.model_list[0].rpm"),
        (
            lambda c: c["model_list"][0]["litellm_params"].update(timeout="soon"),
            "user_config.model_list[0].litellm_params.timeout",
        ),
        (
            lambda c: c["model_list"][1]["litellm_params"].update(model="unknownprovider-x"),
            "user_config.model_list[1]",
        ),
        (lambda c: c.update(num_retries=50), "user_config.num_retries"),
        (lambda c: c.update(num_retries=6), "user_config.num_retries"),
        (lambda c: c.update(timeout=100000), "user_config.timeout"),
        (lambda c: c.update(wait_for_cooldown=3600), "user_config.wait_for_cooldown"),
        (lambda c: c.update(routing_strategy="telepathy"), "user_config.routing_strategy"),
        (lambda c: c.update(fallbacks="everything"), "user_config.fallbacks"),
    ],
)
def test_invalid_values_are_refused_when_the_router_is_built(mutate, param):
    config = seed()
    mutate(config)
    with pytest.raises(InvalidRequestError) as caught:
        build_user_router(split_user_config(config, SETTINGS), drop_params=False)
    assert caught.value.status == 400 and caught.value.param == param


def test_the_operator_environment_never_fills_in_a_client_deployment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-operator-env-key-123456789")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://operator.openai.azure.example")
    config = {"model_list": [{"model_name": "c", "litellm_params": {"model": "anthropic/claude-x"}}]}
    with pytest.raises(InvalidRequestError, match="never use the gateway's own keys") as caught:
        build_user_router(split_user_config(config, SETTINGS), drop_params=False)
    assert caught.value.param == "user_config.model_list[0].litellm_params.api_key"
    azure = {"model_list": [{"model_name": "a", "litellm_params": {"model": "azure/d", "api_key": "k" * 20}}]}
    [deployment] = build_user_router(split_user_config(azure, SETTINGS), False).resolve("a")
    assert deployment.call.api_base is None  # not the operator's endpoint


def test_size_and_count_bounds():
    small = ClientCredentialSettings(max_user_config_bytes=2048, max_user_config_deployments=3)
    big = seed()
    big["model_list"][0]["model_info"] = {"padding": "x" * 4096}
    with pytest.raises(PayloadTooLargeError) as caught:
        split_user_config(big, small)
    assert caught.value.status == 413 and caught.value.param == "user_config"
    many = {"model_list": [{"model_name": f"m{i}", "litellm_params": {"model": "mock/x"}} for i in range(4)]}
    with pytest.raises(InvalidRequestError, match="at most 3 deployments"):
        split_user_config(many, small)


def test_wildcard_deployments_find_their_secrets():
    config = {
        "model_list": [
            {"model_name": "first", "litellm_params": {"model": "mock/a"}},
            {
                "model_name": "fw/*",
                "litellm_params": {
                    "model": "openai/*",
                    "api_base": "https://x.example/v1",
                    "api_key": OPENAI_KEY,
                },
            },
        ]
    }
    request = split_user_config(config, SETTINGS)
    router = build_user_router(request, False)
    [deployment] = router.resolve("fw/llama-3")
    assert deployment.id.startswith("u1.") and deployment.call.model == "llama-3"
    assert attach_secrets(deployment, request.secrets).call.api_key.reveal() == OPENAI_KEY
