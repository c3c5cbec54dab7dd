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


def test_the_feature_is_off_by_default(tmp_path):
    loaded = load_config(write(tmp_path), {})
    assert loaded.client_credentials.enabled is False
    assert not loaded.client_credentials.allowlist
    assert loaded.models.deployments[0].client_policy is None


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
        settings.enabled
        and settings.max_user_config_deployments == 5
        and settings.max_user_config_bytes == 4096
    )
    assert [str(n) for n in settings.allowlist.networks] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert settings.allowlist.hosts == {"llm.internal"}
    [deployment] = loaded.models.deployments
    assert set(deployment.client_policy.patterns) == {"api_key", "api_base"}
    assert deployment.client_policy.operator_key_with_client_base is True
    assert loaded.warnings == []
    # Neither key becomes a request default sent to the provider.
    assert deployment.call.defaults == {} and deployment.call.extras == {}


def test_policies_without_the_switch_and_unknown_names_are_reported(tmp_path):
    loaded = load_config(write(tmp_path, configurable_clientside_auth_params=["api_base", "made_up"]), {})
    assert any("'made_up' is not a credential param" in w for w in loaded.warnings)
    assert any("allow_client_side_credentials is true" in w for w in loaded.warnings)


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
    off = runner.invoke(app, ["check-config", "--config", str(write(tmp_path))])
    assert off.exit_code == 0 and "client-side credentials: off" in off.output
    on = write(
        tmp_path,
        {"allow_client_side_credentials": True, "allowed_client_url_hosts": ["127.0.0.1"]},
        configurable_clientside_auth_params=["api_key"],
    )
    result = runner.invoke(app, ["check-config", "--config", str(on)])
    assert result.exit_code == 0, result.output
    assert "client-side credentials: on (user_config; per-request params for gpt;" in result.output
    assert "127.0.0.1/32" in result.output
