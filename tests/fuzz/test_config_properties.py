"""Property test of the LiteLLM-style config loader: whatever structure a YAML file holds, loading
it either gives a config or a ConfigError saying what is wrong, never another exception (a
traceback at start-up instead of a message naming the setting)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyroute.config.loader import ConfigError, load_config

# Real keys, so the structures reach past the top level into each section's validation.
KEYS = st.sampled_from(
    [
        "model_list", "model_name", "litellm_params", "model", "api_base", "api_key", "api_version",
        "model_info", "id", "rpm", "tpm", "timeout", "input_cost_per_token", "output_cost_per_token",
        "general_settings", "master_key", "database_url", "max_request_size_mb", "allowed_client_url_hosts",
        "router_settings", "routing_strategy", "num_retries", "fallbacks", "allowed_fails", "cooldown_time",
        "litellm_settings", "drop_params", "request_timeout", "success_callback", "environment_variables",
        "controller", "api_type", "configurable_clientside_auth_params", "mock_response", "order",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16)
    | st.sampled_from(
        ["openai/gpt-4o", "mock/x", "os.environ/POLYROUTE_FUZZ_UNSET", "http://127.0.0.1:1/v1",
         "simple-shuffle", "", "azure/x", "anthropic/claude", "sqlite:///x.db"]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=16,
)
MODELS = st.sampled_from(
    ["openai/gpt-4o", "mock/x", "azure/x", "anthropic/claude", "gemini/g", "x", "fastchat/v"]
)
PARAMS = st.fixed_dictionaries(
    {"model": MODELS | VALUES},
    optional={
        name: SCALARS | VALUES
        for name in ("api_base", "api_key", "api_version", "rpm", "tpm", "timeout", "mock_response", "order",
                     "input_cost_per_token", "configurable_clientside_auth_params")
    },
)
ENTRY = st.fixed_dictionaries(
    {"model_name": st.text(min_size=1, max_size=8) | VALUES, "litellm_params": PARAMS | VALUES},
    optional={"model_info": st.fixed_dictionaries({}, optional={"id": SCALARS}) | VALUES},
)
DOCUMENTS = (
    st.fixed_dictionaries(
        {"model_list": st.lists(ENTRY, max_size=3)},
        optional={
            "general_settings": st.dictionaries(KEYS, VALUES, max_size=4) | VALUES,
            "router_settings": st.dictionaries(KEYS, VALUES, max_size=4) | VALUES,
            "litellm_settings": st.dictionaries(KEYS, VALUES, max_size=4) | VALUES,
            "environment_variables": VALUES,
        },
    )
    | st.dictionaries(KEYS, VALUES, max_size=5)
    | VALUES
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_any_structure_loads_or_fails_with_a_config_error(document):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(document))
        try:
            load_config(path, {})
        except ConfigError as exc:
            message = str(exc)
            assert "Traceback" not in message
            names = {str(path)} | set(keys_in(document))
            assert any(name and name in message for name in names), f"names no field: {message}"


def keys_in(value: object) -> list[str]:
    """Every mapping key in a document, at any depth."""
    if isinstance(value, dict):
        return [str(k) for k in value] + [k for v in value.values() for k in keys_in(v)]
    if isinstance(value, list):
        return [k for v in value for k in keys_in(v)]
    return []
