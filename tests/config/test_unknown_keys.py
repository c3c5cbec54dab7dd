"""Config mistakes do not pass quietly (issue 12).

A key neither polyroute nor LiteLLM knows is reported with the nearest known name, and
`check-config` and `serve` refuse it unless `--allow-unknown`; keys LiteLLM documents but
polyroute does not implement stay warnings. A misspelled `litellm_params` key is never sent
upstream (it used to be, as a request default: a literal secret under `api_kye` left the
gateway); provider-documented extras and `extra_body` are. Providers polyroute lacks are named
as such."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from polyroute.cli.main import app
from polyroute.config.loader import ConfigError, load_config
from tests.conftest import OPENAI_KEY
from tests.gateway import GatewayServer

SECRET = "sk-literal-secret-under-a-typo-5e4d3c2b1a"


def write(tmp_path, config: dict[str, Any], name: str = "config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def one_model(**params: Any) -> dict[str, Any]:
    litellm = {"model": "openai/gpt-4o", "api_key": "sk-operator-000000000000", **params}
    return {"model_list": [{"model_name": "gpt", "litellm_params": litellm}]}


def unknown(loaded) -> dict[str, str | None]:
    return {key.path: key.near for key in loaded.unknown_keys}


# ---- litellm_params -------------------------------------------------------------------------------


def test_a_misspelled_litellm_param_is_reported_and_not_a_request_default(tmp_path):
    loaded = load_config(write(tmp_path, one_model(api_kye=SECRET, temperatur=0.2, temperature=0.1)), {})
    assert unknown(loaded) == {
        "model_list[0].litellm_params.api_kye": "api_key",
        "model_list[0].litellm_params.temperatur": "temperature",
    }
    [deployment] = loaded.models.resolve("gpt")
    assert deployment.call.defaults == {"temperature": 0.1}
    assert SECRET not in repr(deployment.call.extras)


def test_a_misspelled_litellm_param_never_reaches_the_upstream(tmp_path, fake_openai):
    """Over HTTP: before the fix the fake received `"api_kye": SECRET` in the body."""
    fake_openai.reset()
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": fake_openai.url + "/v1",
                    "api_key": OPENAI_KEY,
                    "api_kye": SECRET,
                    "top_k": 5,  # a documented extra of OpenAI-compatible servers: a default
                    "extra_body": {"guided_choice": ["a", "b"], "my_server_flag": True},  # pass-through
                    "input_cost_per_token": 1e-6,  # LiteLLM's, not acted on here: not sent either
                },
            }
        ]
    }
    with GatewayServer(config, tmp_path) as server:
        assert (
            server.client()
            .chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
            .choices
        )
    [seen] = fake_openai.requests
    assert SECRET not in seen.body.decode() and "api_kye" not in seen.json
    assert "input_cost_per_token" not in seen.json
    assert seen.json["top_k"] == 5 and seen.json["guided_choice"] == ["a", "b"]
    assert seen.json["my_server_flag"] is True


def test_extras_are_per_provider_and_litellm_names_are_only_unsupported(tmp_path):
    config = {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_key": "sk-ant-000000000000",
                    "top_k": 3,  # Anthropic documents it
                    "guided_json": {},  # vLLM's, not Anthropic's
                    "vertex_project": "p",  # LiteLLM's, for a provider polyroute lacks
                    "tags": ["a"],
                },
            }
        ]
    }
    loaded = load_config(write(tmp_path, config), {})
    assert unknown(loaded) == {"model_list[0].litellm_params.guided_json": None}
    assert loaded.models.resolve("claude")[0].call.defaults == {"top_k": 3}
    joined = "\n".join(loaded.warnings)
    assert "model_list[0].litellm_params.vertex_project" in joined and "litellm_params.tags" in joined


def test_extra_body_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="litellm_params.extra_body must be a mapping"):
        load_config(write(tmp_path, one_model(extra_body=["x"])), {})


# ---- sections ----------------------------------------------------------------------------------------


def test_misspelled_section_keys_get_the_nearest_name_and_known_ones_stay_warnings(tmp_path):
    config = {
        **one_model(),
        "genral_settings": {},
        "general_settings": {"master_kye": "sk-1234", "alerting": ["slack"]},
        "router_settings": {"routing_stratgy": "least-busy", "enable_tag_filtering": True},
        "litellm_settings": {"drop_param": True, "turn_off_message_logging": True},
        "controller_settings": {"dispatch_methd": "lottery"},
    }
    loaded = load_config(write(tmp_path, config), {})
    assert unknown(loaded) == {
        "genral_settings": "general_settings",
        "general_settings.master_kye": "master_key",
        "router_settings.routing_stratgy": "routing_strategy",
        "litellm_settings.drop_param": "drop_params",
        "controller_settings.dispatch_methd": "dispatch_method",
    }
    assert loaded.master_key is None
    joined = "\n".join(loaded.warnings)
    for known in (
        "general_settings.alerting",
        "router_settings.enable_tag_filtering",
        "litellm_settings.turn_off_message_logging",
    ):
        assert f"config key '{known}' is not supported yet" in joined


def test_check_config_refuses_unknown_keys_unless_allowed_and_shouts_about_the_master_key(tmp_path):
    path = write(tmp_path, {**one_model(), "general_settings": {"master_kye": "sk-1234"}})
    runner = CliRunner()
    refused = runner.invoke(app, ["check-config", str(path)])
    assert refused.exit_code == 2, refused.output
    assert "error: 'general_settings.master_kye' is not a key polyroute or LiteLLM knows" in refused.output
    assert "(did you mean 'master_key'?)" in refused.output
    assert "NO MASTER KEY IS SET" in refused.output and "--allow-unknown" in refused.output
    allowed = runner.invoke(app, ["check-config", str(path), "--allow-unknown"])
    assert allowed.exit_code == 0, allowed.output
    assert "warning: NO MASTER KEY IS SET" in allowed.output and "master key: not set" in allowed.output


def test_check_config_takes_the_file_as_an_argument_or_with_config(tmp_path):
    path = write(tmp_path, one_model())
    runner = CliRunner()
    for args in (["check-config", str(path)], ["check-config", "--config", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"config OK ({path})" in result.output
    other = write(tmp_path, one_model(), "other.yaml")
    both = runner.invoke(app, ["check-config", str(path), "--config", str(other)])
    assert both.exit_code == 2 and "once" in both.output


def test_serve_refuses_to_start_on_an_unknown_key(tmp_path):
    """A real `polyroute serve` process: it stops before listening, naming the key."""
    path = write(tmp_path, {**one_model(), "general_settings": {"master_kye": "sk-1234"}})
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "polyroute", "serve", "--config", str(path), "--port", "0"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "general_settings.master_kye" in output and "NO MASTER KEY IS SET" in output
    assert "unknown config key" in output and "--allow-unknown" in output


# ---- providers polyroute does not have -------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["sagemaker/my-endpoint", "watsonx/ibm/granite-13b-chat-v2", "huggingface/meta-llama/Llama-3-8B"]
)
def test_a_provider_polyroute_lacks_is_named_as_not_supported(tmp_path, model):
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": model, "api_base": "http://x:1"}}]
    }
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, config), {})
    message = str(caught.value)
    provider = model.split("/")[0]
    assert f"provider '{provider}' is not supported by polyroute yet" in message
    assert "openai/" not in message and "\n" not in message


def test_litellms_in_process_vllm_points_to_hosted_vllm(tmp_path):
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "vllm/meta-llama/Llama-3-8B"}}]}
    with pytest.raises(ConfigError, match="a vLLM server is 'hosted_vllm/<model>'"):
        load_config(write(tmp_path, config), {})
