"""Config files: LiteLLM's config.yaml, FastChat's endpoint JSON, env-derived defaults."""

from __future__ import annotations

import json

import pytest
import yaml

from polyroute.config.loader import ConfigError, load_config


def write(tmp_path, data, name="config.yaml"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data))
    return path


LITELLM_CONFIG = {
    "model_list": [
        {
            "model_name": "gpt-4o",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_key": "os.environ/OPENAI_API_KEY",
                "rpm": 60,
                "tpm": 1000,
                "organization": "org-1",
                "extra_headers": {"x-team": "a"},
                "temperature": 0.2,
            },
        },
        {
            "model_name": "gpt-4o",
            "litellm_params": {
                "model": "azure/gpt4o-prod",
                "api_base": "os.environ/AZURE_API_BASE",
                "api_key": "os.environ/AZURE_API_KEY",
                "api_version": "2024-10-21",
                "timeout": 30,
                "stream_timeout": 5,
                "max_retries": 2,
            },
            "model_info": {"id": "azure-eu", "max_input_tokens": 128000},
        },
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5"}},
        {
            "model_name": "local",
            "litellm_params": {
                "model": "hosted_vllm/meta-llama/Llama-3.1-8B",
                "api_base": "http://127.0.0.1:8000/v1",
            },
        },
        {
            "model_name": "legacy",
            "litellm_params": {"model": "gpt-3.5-turbo", "api_key": "sk-literal-key-123456"},
        },
        {"model_name": "anthropic/*", "litellm_params": {"model": "anthropic/*"}},
    ],
    "litellm_settings": {"drop_params": True, "success_callback": ["langfuse"], "set_verbose": False},
    "general_settings": {"master_key": "os.environ/MY_MASTER", "alerting": ["slack"]},
    "router_settings": {
        "routing_strategy": "usage-based-routing-v2",
        "provider_budget_config": {"openai": {}},
    },
}
ENV = {
    "OPENAI_API_KEY": "sk-openai-env",
    "AZURE_API_BASE": "https://res.openai.azure.com",
    "AZURE_API_KEY": "az-key",
    "ANTHROPIC_API_KEY": "sk-ant-env",
    "MY_MASTER": "sk-master-123",
}


def test_litellm_config_loads_unchanged(tmp_path):
    loaded = load_config(write(tmp_path, LITELLM_CONFIG), ENV)
    group = loaded.models.resolve("gpt-4o")
    assert [d.provider for d in group] == ["openai", "azure"]
    openai_d, azure_d = group
    assert openai_d.call.api_key.reveal() == "sk-openai-env"
    assert (openai_d.rpm, openai_d.tpm, openai_d.call.organization) == (60, 1000, "org-1")
    assert openai_d.call.extra_headers == {"x-team": "a"}
    assert openai_d.call.defaults == {"temperature": 0.2}
    assert azure_d.id == "azure-eu" and azure_d.call.api_base == "https://res.openai.azure.com"
    assert (azure_d.timeout, azure_d.stream_timeout, azure_d.max_retries) == (30, 5, 2)
    assert azure_d.model_info["max_input_tokens"] == 128000
    # a key-less entry takes the provider's env var
    assert loaded.models.resolve("claude")[0].call.api_key.reveal() == "sk-ant-env"
    assert loaded.models.resolve("local")[0].call.model == "meta-llama/Llama-3.1-8B"
    assert loaded.models.resolve("legacy")[0].provider == "openai"  # inferred from the bare name
    assert loaded.models.resolve("anthropic/claude-opus-4")[0].call.model == "claude-opus-4"
    assert loaded.master_key.reveal() == "sk-master-123"
    assert loaded.drop_params is True


def test_unsupported_keys_are_reported_by_name(tmp_path):
    loaded = load_config(write(tmp_path, LITELLM_CONFIG), ENV)
    joined = "\n".join(loaded.warnings)
    assert "litellm_settings.success_callback" in joined
    assert "general_settings.alerting" in joined
    assert "router_settings.provider_budget_config" in joined
    assert "routing_strategy" not in joined
    assert "set_verbose" not in joined  # harmless LiteLLM logging knob


def test_missing_env_var_is_one_line_naming_var_and_model(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "AZURE_API_KEY"}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, LITELLM_CONFIG), env)
    message = str(caught.value)
    assert "AZURE_API_KEY" in message and "gpt-4o" in message and "\n" not in message


def test_provider_without_any_key_is_a_clear_error(tmp_path):
    config = {"model_list": [{"model_name": "claude", "litellm_params": {"model": "anthropic/claude-x"}}]}
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        load_config(write(tmp_path, config), {})


def test_invalid_values_name_the_field(tmp_path):
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/x", "rpm": -5}}]}
    with pytest.raises(ConfigError, match=r"model_list\.0\.litellm_params\.rpm"):
        load_config(write(tmp_path, config), ENV)


def test_unknown_provider_prefix_without_base_is_an_error(tmp_path):
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "nosuchcloud/x"}}]}
    with pytest.raises(ConfigError, match="provider/model"):
        load_config(write(tmp_path, config), ENV)


def test_fastchat_endpoint_file(tmp_path):
    endpoints = {
        "gpt-4o-2024-05-13": {
            "model_name": "gpt-4o-2024-05-13",
            "api_type": "openai",
            "api_base": "https://api.openai.com/v1",
            "api_key": "sk-fc-key",
            "anony_only": False,
            "recommended_config": {"temperature": 0.7, "top_p": 1.0},
            "text-arena": True,
        },
        "claude-3-5-sonnet": {
            "model_name": "claude-3-5-sonnet-20240620",
            "api_type": "anthropic_message",
            "api_key": "sk-ant-fc",
        },
        "gemini-pro": {"model_name": "gemini-1.5-pro", "api_type": "gemini", "api_key": "AIza-fc"},
        "llama-nim": {
            "model_name": "meta/llama3-70b-instruct",
            "api_type": "nvidia",
            "api_base": "https://integrate.api.nvidia.com/v1",
            "api_key": "nvapi-x",
        },
        "yandex": {
            "model_name": "yandexgpt/latest",
            "api_type": "yandexgpt",
            "api_base": "https://llm.api.cloud.yandex.net/foundationModels/v1/completion",
            "api_key": "y",
            "folder_id": "b1gfolder",
        },
        "tulu2-70b": {"model_name": "tulu2-70b", "api_type": "ai2", "model_id": "mod_01hhg", "api_key": "a"},
        "reka-core-online": {"model_name": "reka-core-online", "api_type": "reka", "api_key": "r"},
    }
    path = write(tmp_path, endpoints, "api_endpoints.json")
    for loaded in (load_config(None, {}, endpoint_file=path), load_config(path, {})):
        gpt = loaded.models.resolve("gpt-4o-2024-05-13")[0]
        assert gpt.provider == "openai" and gpt.call.defaults == {"temperature": 0.7, "top_p": 1.0}
        assert gpt.model_info["text-arena"] is True
        assert loaded.models.resolve("claude-3-5-sonnet")[0].call.model == "claude-3-5-sonnet-20240620"
        assert loaded.models.resolve("gemini-pro")[0].provider == "gemini"
        assert loaded.models.resolve("llama-nim")[0].provider == "nvidia_nim"
        yandex = loaded.models.resolve("yandex")[0]
        assert (yandex.provider, yandex.call.extras["folder_id"]) == ("yandexgpt", "b1gfolder")
        tulu = loaded.models.resolve("tulu2-70b")[0]
        assert (tulu.provider, tulu.call.extras["model_id"]) == ("ai2", "mod_01hhg")
        assert loaded.models.resolve("reka-core-online")[0].call.model == "reka-core-online"


def test_no_config_routes_every_keyed_provider_and_the_mock():
    env = {
        "ANTHROPIC_API_KEY": "sk-ant",
        "GEMINI_API_KEY": "g",
        "MISTRAL_API_KEY": "m",
        "NVIDIA_API_KEY": "n",
        "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com",
        "AZURE_OPENAI_KEY": "az",
        "OPENAI_API_KEY": "sk-o",
        "OPENAI_API_BASE": "https://reseller.example/v1",
    }
    loaded = load_config(None, env)
    for name, provider in [
        ("anthropic/claude-x", "anthropic"),
        ("gemini/gemini-2.5-pro", "gemini"),
        ("mistral/mistral-large", "mistral"),
        ("nvidia_nim/meta/llama", "nvidia_nim"),
        ("azure/dep", "azure"),
        ("openai/gpt-4o", "openai"),
        ("mock/anything", "mock"),
    ]:
        group = loaded.models.resolve(name)
        assert group and group[0].provider == provider, name
    assert loaded.models.resolve("openai/gpt-4o")[0].call.api_base == "https://reseller.example/v1"
    assert loaded.models.resolve("mock-gpt")
    assert loaded.models.resolve("groq/llama") == []  # no GROQ_API_KEY
    assert load_config(None, {}).models.resolve("anthropic/claude-x") == []


def test_master_key_from_env_and_litellm_variable():
    assert load_config(None, {"POLYROUTE_MASTER_KEY": "sk-a"}).master_key.reveal() == "sk-a"
    assert load_config(None, {"LITELLM_MASTER_KEY": "sk-b"}).master_key.reveal() == "sk-b"
    assert load_config(None, {}).master_key is None


def test_secrets_are_masked_in_reprs(tmp_path):
    loaded = load_config(write(tmp_path, LITELLM_CONFIG), ENV)
    text = repr(loaded.models.deployments) + repr(loaded.master_key)
    for secret in ("sk-openai-env", "az-key", "sk-ant-env", "sk-master-123", "sk-literal-key-123456"):
        assert secret not in text


def test_routing_strategy_args_without_effect_are_reported(tmp_path):
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "router_settings": {
            "routing_strategy": "latency-based-routing",
            "routing_strategy_args": {"ttl": 10, "lowest_latency_buffer": 0.5},
        },
    }
    loaded = load_config(write(tmp_path, config), ENV)
    assert "config key 'router_settings.routing_strategy_args.lowest_latency_buffer' is not supported" in (
        "\n".join(loaded.warnings)
    )
    assert any(
        w.startswith("config key 'router_settings.routing_strategy_args.ttl'") for w in loaded.warnings
    )
    assert loaded.router.routing_strategy == "latency-based-routing"


def test_a_key_without_its_base_url_is_named_at_start_up():
    env = {"AZURE_OPENAI_KEY": "az-0123456789", "HOSTED_VLLM_API_KEY": "v-0123456789"}
    loaded = load_config(None, env)
    assert loaded.models.resolve("azure/dep") == [] and loaded.models.resolve("hosted_vllm/m") == []
    assert (
        "AZURE_OPENAI_KEY is set but AZURE_OPENAI_ENDPOINT or AZURE_API_BASE is not set: "
        "azure/<model> is not routable"
    ) in loaded.warnings
    assert any(w.startswith("HOSTED_VLLM_API_KEY is set but HOSTED_VLLM_API_BASE") for w in loaded.warnings)
    assert not any("0123456789" in w for w in loaded.warnings)  # names, never values
    served = load_config(None, {**env, "HOSTED_VLLM_API_BASE": "http://127.0.0.1:8000/v1"})
    assert served.models.resolve("hosted_vllm/m")[0].call.api_base == "http://127.0.0.1:8000/v1"
