"""The config keys of client-side credentials: parsed once, bad values stop start-up in one line,
and keys LiteLLM configs carry are understood rather than reported as unsupported."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from polyroute.cli.main import app
from polyroute.config.loader import ConfigError, load_config


def write(tmp_path, general=None, **params):
    litellm = {"model": "openai/gpt-4o", "api_key": "sk-operator-000000000000", **params}
    config = {
        "model_list": [{"model_name": "gpt", "litellm_params": litellm}],
        "general_settings": general or {},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_defaults_per_request_params_closed_user_config_open(tmp_path):
    loaded = load_config(write(tmp_path), {})
    assert loaded.client_credentials.any_model is False
    assert loaded.client_credentials.user_config is None  # on for authenticated callers
    assert not loaded.client_credentials.allowlist
    assert loaded.models.resolve("gpt")[0].client_policy is None


def test_the_switch_opens_key_base_and_version_on_every_model_without_widening_a_regex(tmp_path):
    regex = r"^https://[a-z]+\.example\.com/v1$"
    loaded = load_config(
        write(
            tmp_path,
            {"allow_client_side_credentials": True},
            configurable_clientside_auth_params=[{"api_base": regex}],
        ),
        {},
    )
    [deployment] = loaded.models.resolve("gpt")
    patterns = deployment.client_policy.patterns
    assert set(patterns) == {"api_key", "api_base", "api_version"}
    assert [p.pattern for p in patterns["api_base"]] == [regex]  # the model's own regex holds
    assert patterns["api_key"] == () and patterns["api_version"] == ()


def test_listing_api_base_lets_clients_bring_the_key_for_it(tmp_path):
    # The seed: configurable_clientside_auth_params: ["api_base"], and the request sends api_key too.
    loaded = load_config(write(tmp_path, configurable_clientside_auth_params=["api_base"]), {})
    assert set(loaded.models.resolve("gpt")[0].client_policy.patterns) == {"api_base", "api_key"}


def test_the_seeds_keyless_wildcard_model_loads(tmp_path):
    """The seed's fireworks_ai/* entry has no api_key: it loads, for clients that bring one."""
    path = tmp_path / "config.yaml"
    path.write_text(
        'model_list:\n- model_name: "fireworks_ai/*"\n  litellm_params:\n    model: "fireworks_ai/*"\n'
        '    configurable_clientside_auth_params: ["api_base"]\n'
    )
    loaded = load_config(path, {})
    assert loaded.client_credentials.client_key_models is True
    [deployment] = loaded.models.resolve("fireworks_ai/llama")
    assert deployment.call.api_key is None
    # Without the opt-in, a model with no key still stops start-up in one line.
    path.write_text(
        'model_list:\n- model_name: "fireworks_ai/*"\n  litellm_params:\n    model: "fireworks_ai/*"\n'
    )
    with pytest.raises(ConfigError, match="needs an API key"):
        load_config(path, {})


def test_user_config_can_be_switched_off(tmp_path):
    loaded = load_config(write(tmp_path, {"allow_user_config": False}), {})
    assert loaded.client_credentials.user_config is False and loaded.warnings == []


def test_settings_and_policies_load_without_unsupported_warnings(tmp_path):
    general = {
        "allow_client_side_credentials": True,
        "allowed_client_url_hosts": ["127.0.0.1", "10.0.0.0/8", "llm.internal"],
        "user_config_max_deployments": 5,
        "user_config_max_bytes": 4096,
    }
    path = write(
        tmp_path,
        general,
        configurable_clientside_auth_params=["api_key", {"api_base": r"^https://[a-z]+\.example\.com/v1$"}],
        allow_operator_key_with_client_base=True,
    )
    loaded = load_config(path, {})
    settings = loaded.client_credentials
    assert (
        settings.any_model
        and settings.max_user_config_deployments == 5
        and settings.max_user_config_bytes == 4096
    )
    assert [str(n) for n in settings.allowlist.networks] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert settings.allowlist.hosts == {"llm.internal"}
    [deployment] = loaded.models.resolve("gpt")
    assert set(deployment.client_policy.patterns) == {"api_key", "api_base", "api_version"}
    assert deployment.client_policy.operator_key_with_client_base is True
    assert loaded.warnings == []
    # Neither key becomes a request default sent to the provider.
    assert deployment.call.defaults == {} and deployment.call.extras == {}


def test_unknown_names_are_reported_and_a_model_list_needs_no_switch(tmp_path):
    loaded = load_config(write(tmp_path, configurable_clientside_auth_params=["api_base", "made_up"]), {})
    assert loaded.warnings == [
        "model 'gpt': configurable_clientside_auth_params entry 'made_up' is not a credential param "
        "polyroute knows; ignored"
    ]


@pytest.mark.parametrize(
    ("general", "params", "message"),
    [
        ({"allowed_client_url_hosts": ["not a host/"]}, {}, "general_settings.allowed_client_url_hosts"),
        ({"user_config_max_deployments": 0}, {}, "user_config_max_deployments"),
        ({}, {"configurable_clientside_auth_params": [{"api_base": "("}]}, "model 'gpt': invalid regex"),
        ({}, {"allow_operator_key_with_client_base": True}, "needs a regex for api_base"),
        (
            {},
            {
                "configurable_clientside_auth_params": ["api_base"],
                "allow_operator_key_with_client_base": True,
            },
            "needs a regex for api_base",
        ),
    ],
)
def test_bad_settings_stop_start_up_in_one_line(tmp_path, general, params, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(write(tmp_path, general, **params), {})


def test_check_config_says_whether_clients_may_bring_credentials(tmp_path):
    runner = CliRunner()
    default = runner.invoke(app, ["check-config", "--config", str(write(tmp_path))])
    assert default.exit_code == 0, default.output
    assert (
        "client-side credentials: user_config: on; per-request params: no model; "
        "private addresses allowed: none" in default.output
    )
    listed = write(
        tmp_path, {"allowed_client_url_hosts": ["127.0.0.1"]}, configurable_clientside_auth_params=["api_key"]
    )
    result = runner.invoke(app, ["check-config", "--config", str(listed)])
    assert result.exit_code == 0, result.output
    assert "per-request params: gpt; private addresses allowed: 127.0.0.1/32" in result.output
    switched = write(tmp_path, {"allow_client_side_credentials": True, "allow_user_config": False})
    result = runner.invoke(app, ["check-config", "--config", str(switched)])
    assert (
        "client-side credentials: user_config: off (general_settings.allow_user_config); "
        "api_key/api_base/api_version: every model (allow_client_side_credentials); "
        "private addresses allowed: none" in result.output
    )
    both = write(
        tmp_path,
        {"allow_client_side_credentials": True},
        configurable_clientside_auth_params=["organization"],
    )
    result = runner.invoke(app, ["check-config", "--config", str(both)])
    assert "every model (allow_client_side_credentials); per-request params: gpt (own lists)" in result.output
