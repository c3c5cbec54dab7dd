"""Provider facts come from each provider's spec: key variables (FastChat's GENAI_API_KEY beside
GEMINI_API_KEY), the retired BARD_API_KEY's notice, FastChat's api_type names, bare model names,
provider settings and the worker protocols."""

from __future__ import annotations

import json

import pytest
import yaml

from polyroute.config.fastchat_endpoints import UNSERVED_API_TYPES
from polyroute.config.loader import load_config
from polyroute.controller.directory import PROTOCOLS
from polyroute.providers.openai_compat import OpenAICompatibleAdapter
from polyroute.providers.registry import fastchat_api_types, get_adapter, register, specs
from polyroute.providers.spec import ProviderSpec


def _write(tmp_path, data, name="config.yaml"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data))
    return path


def test_genai_api_key_alone_makes_gemini_routable_from_env_and_config(tmp_path):
    env = {"GENAI_API_KEY": "AIza-genai"}
    group = load_config(None, env).models.resolve("gemini/gemini-2.5-flash")
    assert group and group[0].call.api_key.reveal() == "AIza-genai"
    config = {"model_list": [{"model_name": "g", "litellm_params": {"model": "gemini/gemini-2.5-pro"}}]}
    [deployment] = load_config(_write(tmp_path, config), env).models.resolve("g")
    assert deployment.call.api_key.reveal() == "AIza-genai"


def test_gemini_api_key_wins_over_genai_api_key():
    env = {"GENAI_API_KEY": "AIza-genai", "GEMINI_API_KEY": "AIza-gemini"}
    [deployment] = load_config(None, env).models.resolve("gemini/gemini-2.5-flash")
    assert deployment.call.api_key.reveal() == "AIza-gemini"


def test_bard_api_key_alone_gets_one_notice_naming_the_variable_to_set(tmp_path):
    loaded = load_config(None, {"BARD_API_KEY": "bard-secret-value"})
    notices = [w for w in loaded.warnings if "BARD_API_KEY" in w]
    assert notices == ["BARD_API_KEY is set but Bard is retired: set GEMINI_API_KEY to reach gemini/<model>"]
    assert loaded.models.resolve("gemini/gemini-2.5-flash") == []
    assert not any("bard-secret-value" in w for w in loaded.warnings)
    # Also with a config file: the notice is about the environment, whatever the models are.
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}]}
    with_file = load_config(_write(tmp_path, config), {"BARD_API_KEY": "b"})
    assert sum("BARD_API_KEY" in w for w in with_file.warnings) == 1


@pytest.mark.parametrize("gemini_key", ["GEMINI_API_KEY", "GENAI_API_KEY", "GOOGLE_API_KEY"])
def test_bard_api_key_beside_a_gemini_key_says_nothing(gemini_key):
    loaded = load_config(None, {"BARD_API_KEY": "b", gemini_key: "g"})
    assert not any("BARD" in w for w in loaded.warnings)


SERVED_NOW = {
    "openai": "openai",
    "openai_no_stream": "openai",
    "openai_o1": "openai",
    "anthropic": "anthropic",
    "anthropic_message": "anthropic",
    "gemini": "gemini",
    "gemini_no_stream": "gemini",
    "mistral": "mistral",
    "nvidia": "nvidia_nim",
    "cohere": "cohere",
    "yandexgpt": "yandexgpt",
    "ai2": "ai2",
    "reka": "reka",
    "vertex": "vertex_ai",
    "anthropic_message_vertex": "vertex_ai",
}


@pytest.mark.parametrize("api_type", list(SERVED_NOW))
def test_every_fastchat_api_type_of_the_issue_maps_to_a_registered_adapter(api_type):
    provider = fastchat_api_types().get(api_type)
    assert provider is not None and get_adapter(provider) is not None
    if api_type in SERVED_NOW:
        assert provider == SERVED_NOW[api_type]


def test_other_fastchat_api_types_are_reported_by_name_with_the_reason(tmp_path):
    endpoints = {
        f"m-{api_type}": {"model_name": "x", "api_type": api_type, "api_key": "k"}
        for api_type in [*UNSERVED_API_TYPES, "no_such_type"]
    }
    loaded = load_config(None, {}, endpoint_file=_write(tmp_path, endpoints, "endpoints.json"))
    for api_type, reason in UNSERVED_API_TYPES.items():
        assert (
            f"endpoint 'm-{api_type}': api_type '{api_type}' is not served: {reason}; skipped"
            in loaded.warnings
        )
    assert (
        "endpoint 'm-no_such_type': api_type 'no_such_type' is not one FastChat or polyroute knows; skipped"
        in (loaded.warnings)
    )
    assert not set(UNSERVED_API_TYPES) & set(fastchat_api_types())


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("o3-mini", "openai"),
        ("text-embedding-3-small", "openai"),
        ("claude-3-5-sonnet", "anthropic"),
        ("gemini-2.5-pro", "gemini"),
        ("mistral-large-latest", "mistral"),
        ("codestral-latest", "mistral"),
    ],
)
def test_bare_model_names_resolve_through_the_specs_prefixes(tmp_path, model, provider):
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": model, "api_key": "k"}}]}
    [deployment] = load_config(_write(tmp_path, config), {}).models.resolve("m")
    assert (deployment.provider, deployment.call.model) == (provider, model)


def test_own_provider_settings_go_to_extras_others_are_reported_and_the_rest_are_defaults(tmp_path):
    params = {
        "model": "anthropic/claude-x",
        "api_key": "k",
        "anthropic_version": "2023-06-01",
        "default_max_tokens": 512,
        "mock_latency_ms": 5,
        "vertex_project": "p",
        "temperature": 0.3,
    }
    config = {"model_list": [{"model_name": "m", "litellm_params": params}]}
    loaded = load_config(_write(tmp_path, config), {})
    [deployment] = loaded.models.resolve("m")
    assert deployment.call.extras == {"anthropic_version": "2023-06-01", "default_max_tokens": 512}
    assert deployment.call.defaults == {"temperature": 0.3}
    # Another provider's settings: reported as not acted on, never sent nor handed to this adapter.
    reported = " ".join(loaded.warnings)
    assert "litellm_params.mock_latency_ms" in reported and "litellm_params.vertex_project" in reported


def test_config_entries_read_the_specs_base_and_version_variables(tmp_path):
    env = {
        "OPENAI_API_KEY": "sk-o",
        "OPENAI_BASE_URL": "https://reseller.example/v1",
        "AZURE_API_KEY": "az",
        "AZURE_API_BASE": "https://r.openai.azure.com",
        "AZURE_API_VERSION": "2024-06-01",
    }
    config = {
        "model_list": [
            {"model_name": "o", "litellm_params": {"model": "openai/gpt-4o"}},
            {"model_name": "a", "litellm_params": {"model": "azure/dep"}},
        ]
    }
    loaded = load_config(_write(tmp_path, config), env)
    [openai] = loaded.models.resolve("o")
    [azure] = loaded.models.resolve("a")
    assert openai.call.api_base == "https://reseller.example/v1"
    assert (azure.call.api_key.reveal(), azure.call.api_base, azure.call.api_version) == (
        "az",
        "https://r.openai.azure.com",
        "2024-06-01",
    )


def test_worker_protocols_come_from_the_specs():
    assert PROTOCOLS == {"fastchat": "fastchat_worker", "openai": "polyroute_worker"}
    assert get_adapter("polyroute_worker").spec.worker_api_path == "/v1"


def test_a_name_is_registered_once():
    taken = ProviderSpec(name="p1-test-only", label="t", api="t", aliases=("anthropic",))
    with pytest.raises(ValueError, match="anthropic"):
        register(OpenAICompatibleAdapter(taken))
    assert get_adapter("p1-test-only") is None


def test_spec_refuses_unknown_capabilities_and_non_sse_passthrough():
    from polyroute.protocol.framing import JSONLinesDecoder

    with pytest.raises(ValueError, match="telepathy"):
        ProviderSpec(name="x", label="x", api="x", capabilities=frozenset({"chat", "telepathy"}))
    with pytest.raises(ValueError, match="SSE"):
        ProviderSpec(name="x", label="x", api="x", passthrough_stream=True, stream_decoder=JSONLinesDecoder)


def test_every_spec_names_its_provider_and_each_name_is_unique():
    names = [s.name for s in specs()]
    assert len(names) == len(set(names))
    assert all(s.label for s in specs())
